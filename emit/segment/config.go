package segment

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

//go:embed segments.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in segment definitions (segments.yaml), made
// for the built-in web-shop persona model.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// namePattern is what segment and persona names look like (the schemas'
// pattern).
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidName reports whether s is a valid segment or persona name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Limits on a segments file.
const (
	maxFileBytes   = 1 << 20
	maxSegments    = 1000
	maxExprBytes   = 4096
	maxExprNodes   = 2000
	maxVersionLen  = 128
	maxTitleLen    = 200
	maxDescription = 4000
)

// Config is a validated, compiled set of segment definitions.
type Config struct {
	// Version names this set of definitions; it is carried as
	// segments_version in every segment-change event.
	Version  string
	Segments []*Segment
	// Warnings are findings that do not stop the start but should be
	// logged, such as enter and exit conditions that can hold at once.
	Warnings []string
}

// Segment is one segment definition.
type Segment struct {
	Name        string
	Title       string
	Description string
	// Window is the length of the rolling window the conditions read.
	Window time.Duration
	// Personas the segment is evaluated for; empty means every persona.
	Personas []string
	// Enter and Exit are the condition sources.
	Enter, Exit string
	// MinDwell is the least time a state is held before the opposite
	// change.
	MinDwell time.Duration

	enter, exit *vm.Program
}

// Targets reports whether the segment is evaluated for persona.
func (s *Segment) Targets(persona string) bool {
	return len(s.Personas) == 0 || slices.Contains(s.Personas, persona)
}

// Options are what a segments file is checked against.
type Options struct {
	// Windows are the windows the aggregate stage maintains
	// (aggregate.windows); a segment's window must be one of them.
	Windows []time.Duration
	// Personas, when set, are the persona model's names; a segment's
	// persona list must name only these.
	Personas []string
}

type fileConfig struct {
	Version  string        `yaml:"version"`
	Segments []fileSegment `yaml:"segments"`
}

type fileSegment struct {
	Name        string   `yaml:"name"`
	Title       string   `yaml:"title"`
	Description string   `yaml:"description"`
	Window      string   `yaml:"window"`
	Personas    []string `yaml:"personas"`
	Enter       string   `yaml:"enter"`
	Exit        string   `yaml:"exit"`
	MinDwell    string   `yaml:"min_dwell"`
}

// Default returns the built-in segment definitions, validated against opts.
func Default(opts Options) (*Config, error) { return Parse(defaultYAML, opts) }

// Load reads and parses a segments file.
func Load(path string, opts Options) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("segments: %s: %w", path, err)
	}
	c, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes, validates and compiles segment definitions. Every problem
// found is reported, one per line, each naming the segment and the field;
// a bad condition names the side (enter or exit) and carries the compiler's
// message.
func Parse(data []byte, opts Options) (c *Config, err error) {
	defer func() {
		// The YAML decoder and the expression compiler are third-party
		// parsers of operator input; a bug in either must not take the
		// process down at start with a stack trace.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("segments: internal error while parsing: %v", r)
		}
	}()
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("segments: file is larger than %d bytes", maxFileBytes)
	}
	if len(opts.Windows) == 0 {
		return nil, errors.New("segments: no windows to check against (aggregate.windows is empty)")
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("segments: empty file; give version and segments")
		}
		return nil, fmt.Errorf("segments: %w", err)
	}

	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c = &Config{Version: strings.TrimSpace(fc.Version)}
	switch {
	case c.Version == "":
		bad("version: missing; name this set of definitions, like \"webshop-segments-2026.11\"")
	case len(c.Version) > maxVersionLen || !printable(c.Version):
		bad("version: must be at most %d printable characters", maxVersionLen)
	}
	if len(fc.Segments) > maxSegments {
		bad("segments: %d definitions; at most %d", len(fc.Segments), maxSegments)
		fc.Segments = fc.Segments[:maxSegments]
	}

	known := map[string]bool{}
	for _, p := range opts.Personas {
		known[p] = true
	}
	seen := map[string]int{}
	for i, fs := range fc.Segments {
		s, errs := compileSegment(fs, opts, known)
		label := fmt.Sprintf("segment %d", i+1)
		if ValidName(fs.Name) {
			label = "segment " + fs.Name
			if j, dup := seen[fs.Name]; dup {
				errs = append(errs, fmt.Sprintf("name: duplicate; segment %d has the same name", j+1))
			} else {
				seen[fs.Name] = i
			}
		}
		for _, e := range errs {
			bad("%s: %s", label, e)
		}
		if len(errs) == 0 {
			c.Segments = append(c.Segments, s)
			c.Warnings = append(c.Warnings, overlapWarnings(s)...)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("segments: %s", strings.Join(problems, "\n"))
	}
	return c, nil
}

func compileSegment(fs fileSegment, opts Options, known map[string]bool) (*Segment, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	s := &Segment{
		Name:        fs.Name,
		Title:       strings.TrimSpace(fs.Title),
		Description: strings.TrimSpace(fs.Description),
		Enter:       strings.TrimSpace(fs.Enter),
		Exit:        strings.TrimSpace(fs.Exit),
	}
	switch {
	case fs.Name == "":
		bad("name: missing")
	case !ValidName(fs.Name):
		bad("name: %q does not match ^[a-z][a-z0-9_]{0,63}$ (lower case letter, then letters, digits, _)", clip(fs.Name))
	}
	if len(s.Title) > maxTitleLen {
		bad("title: longer than %d characters", maxTitleLen)
	}
	if len(s.Description) > maxDescription {
		bad("description: longer than %d characters", maxDescription)
	}

	if fs.Window == "" {
		bad("window: missing; one of %s", windowList(opts.Windows))
	} else if w, err := time.ParseDuration(fs.Window); err != nil {
		bad("window: %q is not a duration like 5m, 1h or 24h", clip(fs.Window))
	} else if !slices.Contains(opts.Windows, w) {
		bad("window: %s is not one of the aggregated windows %s (aggregate.windows)", FormatWindow(w), windowList(opts.Windows))
	} else {
		s.Window = w
	}

	seenP := map[string]bool{}
	for _, p := range fs.Personas {
		switch {
		case !ValidName(p):
			bad("personas: %q is not a persona name", clip(p))
		case seenP[p]:
			bad("personas: %s is listed twice", p)
		case len(known) > 0 && !known[p]:
			bad("personas: %s is not a persona of the model", p)
		default:
			seenP[p] = true
			s.Personas = append(s.Personas, p)
		}
	}

	if fs.MinDwell != "" {
		d, err := time.ParseDuration(fs.MinDwell)
		switch {
		case err != nil:
			bad("min_dwell: %q is not a duration like 10m", clip(fs.MinDwell))
		case d < 0:
			bad("min_dwell: %s is negative; use 0 or more", d)
		default:
			s.MinDwell = d
		}
	}

	var err error
	if s.enter, err = compileCondition(s.Enter); err != nil {
		bad("enter: %v", err)
	}
	if s.exit, err = compileCondition(s.Exit); err != nil {
		bad("exit: %v", err)
	}
	if s.Enter != "" && s.Enter == s.Exit {
		bad("exit: the same condition as enter; a segment would be entered and left on the same figures. Make exit the opposite of enter, a little less strict (e.g. enter: share(\"x\") > 0.30, exit: share(\"x\") < 0.25)")
	}
	return s, errs
}

// compileCondition compiles one condition against Env; it must be a
// boolean expression.
func compileCondition(src string) (*vm.Program, error) {
	switch {
	case src == "":
		return nil, errors.New("missing; both enter and exit conditions are required")
	case len(src) > maxExprBytes:
		return nil, fmt.Errorf("longer than %d bytes", maxExprBytes)
	}
	p, err := expr.Compile(src,
		expr.Env(Env{}),
		expr.AsBool(),
		expr.MaxNodes(maxExprNodes),
		// Conditions are a function of the figures and the evaluation time
		// given to Evaluate; the wall clock would make them impure.
		expr.DisableBuiltin("now"),
	)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %v", err)
	}
	return p, nil
}

func windowList(ws []time.Duration) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = FormatWindow(w)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// clip shortens a configuration value quoted in an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r) + "…"
}
