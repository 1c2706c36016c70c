package segment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testWindows  = []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour}
	testPersonas = []string{
		"mobile_bargain_hunter", "researcher", "loyal_buyer", "cart_abandoner", "campaign_clicker",
		"casual_browser", "tech_enthusiast", "fashion_follower", "home_improver", "gift_shopper",
	}
	testOpts = Options{Windows: testWindows, Personas: testPersonas}
)

func TestDefault(t *testing.T) {
	c, err := Default(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "webshop-segments-2026.11" {
		t.Errorf("version %q", c.Version)
	}
	if n := len(c.Segments); n < 6 || n > 10 {
		t.Errorf("%d default segments, want 6-10", n)
	}
	if len(c.Warnings) > 0 {
		t.Errorf("default segments warn: %v", c.Warnings)
	}
	for _, s := range c.Segments {
		if s.Title == "" || s.Description == "" {
			t.Errorf("%s: no title or description", s.Name)
		}
		if s.MinDwell <= 0 {
			t.Errorf("%s: no min_dwell", s.Name)
		}
	}
	// Without the model's persona list the defaults parse too.
	if _, err := Default(Options{Windows: testWindows}); err != nil {
		t.Fatal(err)
	}
	if string(DefaultYAML()) != string(defaultYAML) {
		t.Error("DefaultYAML differs from the embedded file")
	}
	// A model without 24h windows makes the defaults fail, naming the window.
	_, err = Default(Options{Windows: []time.Duration{5 * time.Minute, time.Hour}})
	if err == nil || !strings.Contains(err.Error(), "segment gift_season: window: 24h is not one of the aggregated windows [5m, 1h]") {
		t.Errorf("defaults without 24h: %v", err)
	}
}

const good = `
version: "v1"
segments:
  - name: s
    window: 1h
    enter: visitors >= 200
    exit: visitors < 150
`

func seg(fields string) string {
	return "version: v1\nsegments:\n  - " + strings.ReplaceAll(strings.TrimSpace(fields), "\n", "\n    ") + "\n"
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"empty", "", []string{"empty file"}},
		{"not yaml", "version: [", []string{"segments: yaml:"}},
		{"unknown field", seg("name: s\nwindow: 1h\nenter: visitors > 1\nexit: visitors < 1\nexitt: x"), []string{"field exitt not found"}},
		{"no version", "segments: []", []string{"version: missing"}},
		{"bad name", seg("name: Electronics-Surge\nwindow: 1h\nenter: visitors > 1\nexit: visitors < 1"),
			[]string{`segment 1: name: "Electronics-Surge" does not match`}},
		{"long name", seg("name: " + strings.Repeat("a", 65) + "\nwindow: 1h\nenter: visitors > 1\nexit: visitors < 1"),
			[]string{"segment 1: name:", "does not match"}},
		{"missing name", seg("window: 1h\nenter: visitors > 1\nexit: visitors < 1"), []string{"segment 1: name: missing"}},
		{"duplicate", "version: v1\nsegments:\n" +
			"  - {name: s, window: 1h, enter: visitors > 1, exit: visitors < 1}\n" +
			"  - {name: s, window: 5m, enter: visitors > 1, exit: visitors < 1}\n",
			[]string{"segment s: name: duplicate; segment 1 has the same name"}},
		{"bad enter", seg("name: s\nwindow: 1h\nenter: share(\"x\") > \nexit: visitors < 1"),
			[]string{"segment s: enter: does not compile:"}},
		{"unknown name in exit", seg("name: s\nwindow: 1h\nenter: visitors > 1\nexit: vistors < 1"),
			[]string{"segment s: exit: does not compile: unknown name vistors"}},
		{"not boolean", seg("name: s\nwindow: 1h\nenter: visitors + 1\nexit: visitors < 1"),
			[]string{"segment s: enter: does not compile:", "bool"}},
		{"missing exit", seg("name: s\nwindow: 1h\nenter: visitors > 1"), []string{"segment s: exit: missing; both enter and exit conditions are required"}},
		{"missing enter", seg("name: s\nwindow: 1h\nexit: visitors > 1"), []string{"segment s: enter: missing"}},
		{"same condition", seg("name: s\nwindow: 1h\nenter: visitors > 1\nexit: visitors > 1"), []string{"segment s: exit: the same condition as enter"}},
		{"wall clock", seg("name: s\nwindow: 1h\nenter: now().Hour() > 1\nexit: visitors < 1"), []string{"segment s: enter: does not compile"}},
		{"window not aggregated", seg("name: s\nwindow: 2h\nenter: visitors > 1\nexit: visitors < 1"),
			[]string{"segment s: window: 2h is not one of the aggregated windows [5m, 1h, 24h]"}},
		{"window not a duration", seg("name: s\nwindow: hourly\nenter: visitors > 1\nexit: visitors < 1"), []string{`segment s: window: "hourly" is not a duration`}},
		{"window missing", seg("name: s\nenter: visitors > 1\nexit: visitors < 1"), []string{"segment s: window: missing; one of [5m, 1h, 24h]"}},
		{"negative dwell", seg("name: s\nwindow: 1h\nenter: visitors > 1\nexit: visitors < 1\nmin_dwell: -5m"), []string{"segment s: min_dwell: -5m0s is negative"}},
		{"bad dwell", seg("name: s\nwindow: 1h\nenter: visitors > 1\nexit: visitors < 1\nmin_dwell: soon"), []string{`segment s: min_dwell: "soon" is not a duration`}},
		{"unknown persona", seg("name: s\nwindow: 1h\npersonas: [researcher, astronaut]\nenter: visitors > 1\nexit: visitors < 1"),
			[]string{"segment s: personas: astronaut is not a persona of the model"}},
		{"persona twice", seg("name: s\nwindow: 1h\npersonas: [researcher, researcher]\nenter: visitors > 1\nexit: visitors < 1"),
			[]string{"segment s: personas: researcher is listed twice"}},
		{"all problems at once", seg("name: s\nwindow: 2h\nenter: x\nexit: y"),
			[]string{"segment s: window:", "segment s: enter: does not compile", "segment s: exit: does not compile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), testOpts)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Segments[0]
	if s.Window != time.Hour || s.MinDwell != 0 || len(s.Personas) != 0 || !s.Targets("anyone") {
		t.Errorf("parsed %+v", s)
	}
	if _, err := Parse([]byte(good), Options{}); err == nil || !strings.Contains(err.Error(), "no windows") {
		t.Errorf("no windows: %v", err)
	}
	// Every name the environment documents compiles.
	all := `visitors > 0 && events > 0 && by_type["page"] >= 0 && by_category["toys"] >= 0 &&
	  share("toys") >= 0 && type_share("page") >= 0 && entered >= 0 && left >= 0 &&
	  flows_in["researcher"] >= 0 && flows_out["researcher"] >= 0 && k >= 2 &&
	  prev.visitors >= 0 && prev.events >= 0 && prev.by_type["page"] >= 0 && prev.by_category["toys"] >= 0 &&
	  prev.entered >= 0 && prev.left >= 0 && !prev.suppressed && prev.total_visitors >= 0 && prev.visitor_share >= 0 &&
	  growth > -1 && prev_share("toys") >= 0 && prev_type_share("page") >= 0 &&
	  total_visitors >= 0 && total_events >= 0 && visitor_share >= 0 &&
	  hour >= 0 && weekday >= 0 && month >= 1 && persona != "" && window == "1h"`
	y := "version: v1\nsegments:\n  - name: s\n    window: 1h\n    enter: '" + strings.Join(strings.Fields(all), " ") + "'\n    exit: visitors < 1\n"
	if _, err := Parse([]byte(y), testOpts); err != nil {
		t.Fatal(err)
	}
}

func TestOverlapWarning(t *testing.T) {
	y := seg("name: inverted\nwindow: 1h\nenter: share(\"electronics\") > 0.30\nexit: share(\"electronics\") < 0.40")
	c, err := Parse([]byte(y), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "segment inverted: enter and exit both hold") {
		t.Errorf("warnings %v", c.Warnings)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "segments.yaml")
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, testOpts); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), testOpts); err == nil {
		t.Error("missing file accepted")
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("#", maxFileBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, testOpts); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add(DefaultYAML())
	f.Add([]byte("version: v\nsegments:\n  - {name: a, window: 5m, enter: 'share(\"x\") > 0.3 && visitors >= 200', exit: 'visitors < 1', min_dwell: 1m}\n"))
	f.Add([]byte("version: v\nsegments:\n  - {name: a, window: 1h, enter: '[1][visitors] > 0', exit: 'by_type[\"x\"] / 0 > 1'}\n"))
	f.Add([]byte("segments: {a: b}"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, testOpts)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err == nil {
			for _, s := range c.Segments {
				if !ValidName(s.Name) || s.enter == nil || s.exit == nil || s.MinDwell < 0 {
					t.Fatalf("invalid segment accepted: %+v", s)
				}
			}
		}
	})
}
