package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP personas_events_in_total Messages read by a stage.
# TYPE personas_events_in_total counter
personas_events_in_total{stage="ingest"} 1.234e+06
personas_redis_round_trips_total{stage="aggregate"} 42
go_goroutines 17
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := m[`personas_events_in_total{stage="ingest"}`]; got != 1234000 {
		t.Errorf("events in = %v", got)
	}
	if got := m[`personas_redis_round_trips_total{stage="aggregate"}`]; got != 42 {
		t.Errorf("round trips = %v", got)
	}
	if _, ok := m["go_goroutines"]; ok {
		t.Error("non-personas series kept")
	}
}

func TestReplaceBlock(t *testing.T) {
	doc := "# Benchmarks\n\n## Overview\n\nintro\n\n## Aggregate stage\n\ntheirs\n"
	once := replaceBlock(doc, resultsBegin, resultsEnd, "table 1\n", "## Overview")
	twice := replaceBlock(once, resultsBegin, resultsEnd, "table 2\n", "## Overview")
	if !strings.Contains(twice, "table 2") || strings.Contains(twice, "table 1") {
		t.Fatalf("block not replaced:\n%s", twice)
	}
	if !strings.Contains(twice, "intro") || !strings.Contains(twice, "## Aggregate stage\n\ntheirs") {
		t.Fatalf("hand-written parts lost:\n%s", twice)
	}
	if strings.Count(twice, resultsBegin) != 1 {
		t.Fatalf("markers duplicated:\n%s", twice)
	}
	// No heading: appended.
	if got := replaceBlock("# B\n", scalingBegin, scalingEnd, "x\n", "## Scaling"); !strings.Contains(got, "## Scaling\n\n"+scalingBegin+"\nx\n"+scalingEnd) {
		t.Fatalf("appended block wrong:\n%s", got)
	}
}

func TestProcStats(t *testing.T) {
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	hwm, err := procStatus(os.Getpid(), "VmHWM")
	if err != nil || hwm <= 0 {
		t.Fatalf("VmHWM = %d, %v", hwm, err)
	}
}

func TestUniqueVisitor(t *testing.T) {
	v := []byte(`{"type":"page","anonymousId":"f254465c-6f59-4b47-8b6c-ae4655deb9aa","x":1}`)
	uniqueVisitor(123456789, v)
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatal(err)
	}
	if id := m["anonymousId"].(string); id == "f254465c-6f59-4b47-8b6c-ae4655deb9aa" || len(id) != 36 {
		t.Fatalf("anonymousId = %q", id)
	}
}
