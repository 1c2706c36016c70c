package ingest

import (
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/personas-dev/personas/schemas"
)

// TestEventIDIsUUIDv5 checks the hand-rolled UUIDv5 against the uuid
// library for a range of coordinates.
func TestEventIDIsUUIDv5(t *testing.T) {
	tr := &Transformer{}
	for _, s := range []schemas.Source{{Topic: "clickstream.raw", Partition: 0, Offset: 0}, {Topic: "x", Partition: 17, Offset: 1 << 40}} {
		want := uuid.NewSHA1(EventIDNamespace, []byte(s.Topic+"/"+itoa(s.Partition)+"/"+itoa64(s.Offset))).String()
		if got := EventID(s); got != want {
			t.Errorf("EventID(%v) = %s, want %s", s, got, want)
		}
		if got := string(tr.appendEventID(nil, s)); got != want {
			t.Errorf("appendEventID(%v) = %s, want %s", s, got, want)
		}
	}
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
