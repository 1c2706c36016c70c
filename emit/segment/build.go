package segment

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/schemas"
)

// Namespace is the UUIDv5 namespace of the emit stage's ids:
// UUIDv5(NameSpaceURL, "https://schemas.personas.dev/emit").
var Namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://schemas.personas.dev/emit"))

// EventID is the deterministic id of a segment change: UUIDv5 of (segment,
// persona, seq, kind) in Namespace. The same change always gets the same id,
// so a change published again after a crash is a duplicate consumers drop.
func EventID(segment, persona string, seq int64, kind string) string {
	name := "segment-change\x00" + segment + "\x00" + persona + "\x00" + strconv.FormatInt(seq, 10) + "\x00" + kind
	return uuid.NewSHA1(Namespace, []byte(name)).String()
}

// SnapshotID is the deterministic id of a snapshot: UUIDv5 of the window
// length and the evaluation time truncated to the snapshot period, so a
// snapshot published again in the same period has the same id.
func SnapshotID(window time.Duration, evaluatedAt time.Time, period time.Duration) string {
	at := evaluatedAt.UTC()
	if period > 0 {
		at = at.Truncate(period)
	}
	name := "snapshot\x00" + FormatWindow(window) + "\x00" + at.Format(time.RFC3339Nano)
	return uuid.NewSHA1(Namespace, []byte(name)).String()
}

// FormatWindow formats a window length the short way: 5m, 1h, 24h, 1h30m,
// 90s → 1m30s (time.Duration.String without the trailing zero units).
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Meta is what every emitted document carries besides the figures.
type Meta struct {
	// ModelVersion is the persona model's version.
	ModelVersion string
	// SegmentsVersion is Config.Version.
	SegmentsVersion string
	// K is the k in force.
	K int
	// Epoch is the pseudonym epoch of the evaluation time.
	Epoch int64
}

func (m Meta) check() error {
	if err := privacy.ValidateK(m.K); err != nil {
		return err
	}
	if m.Epoch < 0 {
		return fmt.Errorf("epoch %d is negative", m.Epoch)
	}
	if m.ModelVersion == "" {
		return errors.New("model version is empty")
	}
	return nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// BuildChange builds the segment-change event of c. pub is the segment's
// window gated for publication (privacy.GateWindow of the same evaluation,
// with the noise in force); the persona's figures are taken from it, so a
// persona that left for being below k carries {persona, suppressed: true}.
func BuildChange(c Change, pub *privacy.Window, meta Meta) (schemas.SegmentChange, error) {
	if err := meta.check(); err != nil {
		return schemas.SegmentChange{}, fmt.Errorf("segment: %w", err)
	}
	switch {
	case c.Type != schemas.SegmentEntered && c.Type != schemas.SegmentExited:
		return schemas.SegmentChange{}, fmt.Errorf("segment: change type %q is not %s or %s", c.Type, schemas.SegmentEntered, schemas.SegmentExited)
	case c.Seq < 1:
		return schemas.SegmentChange{}, fmt.Errorf("segment: change sequence %d; the first change is 1", c.Seq)
	case meta.SegmentsVersion == "":
		return schemas.SegmentChange{}, errors.New("segment: segments version is empty")
	case pub == nil:
		return schemas.SegmentChange{}, errors.New("segment: no gated figures for the change's window")
	case pub.Length != c.Window:
		return schemas.SegmentChange{}, fmt.Errorf("segment: figures are for window %s, the change for %s", FormatWindow(pub.Length), FormatWindow(c.Window))
	}
	return schemas.SegmentChange{
		Schema:          schemas.SegmentChangeV1,
		EventID:         c.EventID(),
		Type:            c.Type,
		Segment:         c.Segment,
		Persona:         c.Persona,
		Window:          FormatWindow(c.Window),
		WindowStart:     rfc3339(pub.Start),
		WindowEnd:       rfc3339(pub.End),
		Figures:         pub.Figures(c.Persona),
		K:               meta.K,
		Epoch:           meta.Epoch,
		ModelVersion:    meta.ModelVersion,
		SegmentsVersion: meta.SegmentsVersion,
		EvaluatedAt:     rfc3339(c.At),
		Sequence:        c.Seq,
	}, nil
}

// BuildSnapshot builds the snapshot of one gated window: every persona
// (suppressed ones as {persona, suppressed: true}) sorted by name, the
// published flows and bot count. Its id is SnapshotID(window, evaluatedAt,
// period). meta.SegmentsVersion is not used.
func BuildSnapshot(pub *privacy.Window, meta Meta, evaluatedAt time.Time, period time.Duration) (schemas.Snapshot, error) {
	if err := meta.check(); err != nil {
		return schemas.Snapshot{}, fmt.Errorf("segment: snapshot: %w", err)
	}
	if pub == nil {
		return schemas.Snapshot{}, errors.New("segment: snapshot: no gated figures")
	}
	names := make([]string, 0, len(pub.Personas))
	for name := range pub.Personas {
		names = append(names, name)
	}
	sort.Strings(names)
	personas := make([]schemas.Figures, 0, len(names))
	for _, name := range names {
		personas = append(personas, pub.Personas[name])
	}
	return schemas.Snapshot{
		Schema:       schemas.SnapshotV1,
		EventID:      SnapshotID(pub.Length, evaluatedAt, period),
		Window:       FormatWindow(pub.Length),
		WindowStart:  rfc3339(pub.Start),
		WindowEnd:    rfc3339(pub.End),
		Personas:     personas,
		Flows:        pub.Flows,
		Bots:         pub.Bots,
		K:            meta.K,
		Epoch:        meta.Epoch,
		ModelVersion: meta.ModelVersion,
		EvaluatedAt:  rfc3339(evaluatedAt),
	}, nil
}
