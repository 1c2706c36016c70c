package faults

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Mode is how much of the suite runs, from PERSONAS_FAULTS: "full" (the
// documented run, `make test-faults`), "off" (skip), anything else the short
// form that `make test` runs.
type Mode string

// Modes.
const (
	Short Mode = "short"
	Full  Mode = "full"
	Off   Mode = "off"
)

// ModeFromEnv reads PERSONAS_FAULTS.
func ModeFromEnv() Mode {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("PERSONAS_FAULTS"))) {
	case "full", "long", "1":
		return Full
	case "off", "0", "no", "skip":
		return Off
	}
	return Short
}

// Plan sizes a run of the suite.
type Plan struct {
	Mode Mode
	// Events is how many synthetic raw events are produced in all.
	Events int
	// Kills is how many times the pipeline is SIGKILLed.
	Kills int
	// Rate is the raw events produced per second while a fault phase runs
	// (the rest of Events follows at the end, without faults).
	Rate int
	// Partitions of the raw and events topics.
	Partitions int
	// Outage is how long Redis stays stopped, a proxy stays cut and so on.
	Outage time.Duration
	// Span is the event-time span of the stream (ending a minute before
	// the start): the persona minutes compared.
	Span time.Duration
}

// PlanFor returns the plan of a mode.
func PlanFor(m Mode) Plan {
	if m == Full {
		return Plan{Mode: Full, Events: 200_000, Kills: 10, Rate: 400, Partitions: 6, Outage: 10 * time.Second, Span: 12 * time.Minute}
	}
	return Plan{Mode: Short, Events: 30_000, Kills: 3, Rate: 100, Partitions: 6, Outage: 10 * time.Second, Span: 6 * time.Minute}
}

// Row is one line of the result table: one kind of fault.
type Row struct {
	Fault string
	// Injected counts how often the fault was injected.
	Injected int
	// Events counts the raw events produced while this fault's phase ran.
	Events int
	// Lost counts valid input events missing from the figures (or from the
	// events topic); Double counts events the figures hold more than once.
	Lost, Double int64
	// Recover holds, per injection, the time from the end of the fault
	// until the pipeline applied events again.
	Recover []time.Duration
	// Note is a short remark (e.g. what the readiness probe said).
	Note string
}

// Table collects the rows of a run.
type Table struct {
	Rows []*Row
}

// Row returns the row of a fault, adding it on first use.
func (t *Table) Row(fault string) *Row {
	for _, r := range t.Rows {
		if r.Fault == fault {
			return r
		}
	}
	r := &Row{Fault: fault}
	t.Rows = append(t.Rows, r)
	return r
}

// Markdown renders the table.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| fault | times injected | events in phase | events lost | events double-counted | time to recover (max / median) | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---|\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s |\n", r.Fault, r.Injected, r.Events, r.Lost, r.Double, recoverCell(r.Recover), r.Note)
	}
	return b.String()
}

func recoverCell(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s / %s", round(s[len(s)-1]), round(s[(len(s)-1)/2]))
}

func round(d time.Duration) string {
	if d < 0 {
		return "no progress seen"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
