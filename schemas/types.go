package schemas

// Schema identifiers carried in the "schema" field of every document.
const (
	EventV1         = "personas.event/v1"
	DLQV1           = "personas.dlq/v1"
	SegmentChangeV1 = "personas.segment-change/v1"
	SnapshotV1      = "personas.snapshot/v1"
)

// Source points at one input message: the coordinates that make event ids
// deterministic and that let an operator find a rejected message (P5).
type Source struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Device is the generalised device: families, never versions or raw UA.
type Device struct {
	Class   string `json:"class"`
	Browser string `json:"browser,omitempty"`
	OS      string `json:"os,omitempty"`
}

// Campaign holds the allowlisted campaign fields, scrubbed and rarity-gated.
type Campaign struct {
	Source string `json:"source,omitempty"`
	Medium string `json:"medium,omitempty"`
	Name   string `json:"name,omitempty"`
}

// IsZero reports whether no campaign field is set.
func (c Campaign) IsZero() bool { return c == Campaign{} }

// Event is an anonymized event on personas.events.v1 (anonymized-event.json).
// Time is an RFC 3339 string cut to the minute, kept as a string so decoding
// on the aggregate hot path does not parse it twice; use Minute for the value.
type Event struct {
	Schema         string            `json:"schema"`
	EventID        string            `json:"event_id"`
	Type           string            `json:"type"`
	Event          string            `json:"event,omitempty"`
	Time           string            `json:"time"`
	Epoch          int64             `json:"epoch"`
	Pseudonym      string            `json:"pseudonym"`
	Bot            bool              `json:"bot"`
	Path           string            `json:"path,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	ReferrerDomain string            `json:"referrer_domain,omitempty"`
	Campaign       *Campaign         `json:"campaign,omitempty"`
	Device         *Device           `json:"device,omitempty"`
	Language       string            `json:"language,omitempty"`
	Search         string            `json:"search,omitempty"`
	Properties     map[string]any    `json:"properties,omitempty"`
	Source         Source            `json:"source"`
}

// DLQRecord is a dead-letter record on personas.dlq.v1 (dlq-record.json):
// where the rejected message is and why, never its content.
type DLQRecord struct {
	Schema        string `json:"schema"`
	ID            string `json:"id"`
	Stage         string `json:"stage"`
	Source        Source `json:"source"`
	Reason        string `json:"reason"`
	Rule          string `json:"rule,omitempty"`
	PayloadSHA256 string `json:"payload_sha256"`
	PayloadBytes  int    `json:"payload_bytes"`
	Time          string `json:"time"`
}

// Figures are one persona's figures over a window (figures.json). When
// Suppressed is true every count is left out: a crowd below k is not
// described at all, not even as a small number.
type Figures struct {
	Persona    string           `json:"persona"`
	Suppressed bool             `json:"suppressed"`
	Visitors   *int64           `json:"visitors,omitempty"`
	Events     *int64           `json:"events,omitempty"`
	ByType     map[string]int64 `json:"by_type,omitempty"`
	ByCategory map[string]int64 `json:"by_category,omitempty"`
	Entered    *int64           `json:"entered,omitempty"`
	Left       *int64           `json:"left,omitempty"`
	Noise      string           `json:"noise,omitempty"`
}

// SegmentChange is a segment.entered or segment.exited event on
// personas.segment-changes.v1 (segment-change.json).
type SegmentChange struct {
	Schema          string  `json:"schema"`
	EventID         string  `json:"event_id"`
	Type            string  `json:"type"`
	Segment         string  `json:"segment"`
	Persona         string  `json:"persona"`
	Window          string  `json:"window"`
	WindowStart     string  `json:"window_start"`
	WindowEnd       string  `json:"window_end"`
	Figures         Figures `json:"figures"`
	K               int     `json:"k"`
	Epoch           int64   `json:"epoch"`
	ModelVersion    string  `json:"model_version"`
	SegmentsVersion string  `json:"segments_version"`
	EvaluatedAt     string  `json:"evaluated_at"`
	Sequence        int64   `json:"sequence"`
}

// Segment-change event types.
const (
	SegmentEntered = "segment.entered"
	SegmentExited  = "segment.exited"
)

// Flow is a count of visitors that moved between two personas in a window.
type Flow struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Visitors int64  `json:"visitors"`
}

// Snapshot is a periodic persona snapshot on personas.snapshots.v1
// (persona-snapshot.json).
type Snapshot struct {
	Schema       string    `json:"schema"`
	EventID      string    `json:"event_id"`
	Window       string    `json:"window"`
	WindowStart  string    `json:"window_start"`
	WindowEnd    string    `json:"window_end"`
	Personas     []Figures `json:"personas"`
	Flows        []Flow    `json:"flows,omitempty"`
	Bots         *int64    `json:"bots,omitempty"`
	K            int       `json:"k"`
	Epoch        int64     `json:"epoch"`
	ModelVersion string    `json:"model_version"`
	EvaluatedAt  string    `json:"evaluated_at"`
}
