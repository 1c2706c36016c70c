package aggregate

import "time"

// PersonaFigures are one persona's figures over one window, as read from the
// state store before any k-anonymity gate: they are internal and must pass
// emit's gate before they are published.
type PersonaFigures struct {
	Persona string
	// Visitors is the number of distinct visitors with events attributed to
	// the persona in the window (HyperLogLog estimate, standard error 0.81%).
	Visitors int64
	// Events counts the persona's events in the window.
	Events int64
	// ByType counts events per event type (page, track, ...).
	ByType map[string]int64
	// ByCategory counts events per product category.
	ByCategory map[string]int64
	// Entered and Left count visitors that moved into and out of the persona
	// (flows), as distinct visitors.
	Entered, Left int64
}

// FlowKey names a flow between two personas.
type FlowKey struct{ From, To string }

// WindowFigures are all personas' figures over one window.
type WindowFigures struct {
	Window     time.Duration
	Start, End time.Time
	Personas   map[string]*PersonaFigures
	// Flows counts distinct visitors per (from, to) persona change.
	Flows map[FlowKey]int64
	// Bots counts bot events (excluded from personas).
	Bots int64
}
