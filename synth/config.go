package synth

import (
	"errors"
	"fmt"
	"time"
)

// Config controls a Generator. Start from DefaultConfig and change what you need;
// New fills zero-valued Visitors, Bots, EventsPerSecond, DayLength and Mix with their
// defaults (EventsPerSecond and DayLength first, as the Visitors default depends on them), while a zero BotShare, BadShare or Diurnal means none/flat.
type Config struct {
	// Seed makes the stream reproducible: the same Config (with a fixed Start) yields
	// byte-identical events.
	Seed uint64
	// Visitors is the size of the human population (distinct anonymousIds). A session
	// picks its archetype by Mix weight, then an idle visitor of that archetype, so
	// visitors come back. 0 = automatic: max(10 000, 300 x EventsPerSecond x
	// DayLength/24h), enough that long-session archetypes (researchers browse ~18 min)
	// always find idle visitors. A visitor may run two sessions at once (two tabs) only
	// when all visitors of its archetype are busy.
	Visitors int
	// Bots is the number of distinct crawler identities (default 40).
	Bots int
	// Start is the event time of the stream start (timestamps begin here). Zero means
	// time.Now(), which makes the stream non-deterministic. Sessions that would be in
	// progress at Start are created up front, so the rate is steady from the start.
	Start time.Time
	// EventsPerSecond is the mean event rate in event time, averaged over a (compressed)
	// day (default 200). The instantaneous rate follows the diurnal curve.
	EventsPerSecond float64
	// DayLength compresses the daily rhythm: one diurnal cycle lasts DayLength of event
	// time (default 24h; e.g. 10*time.Minute for the demo). Think times (and so session
	// durations) scale by DayLength/24h; the rate (EventsPerSecond) does not.
	DayLength time.Duration
	// Diurnal is the strength of the daily curve: 0 = flat rate, 1 = full curve (night
	// trough ~0.1x, evening peak ~1.8x the mean).
	Diurnal float64
	// UTCOffset is the shop's local time offset used to place Start on the daily curve
	// (default +1h, Amsterdam winter time).
	UTCOffset time.Duration
	// BotShare is the share of events sent by crawlers (default 0.04).
	BotShare float64
	// BadShare is the share of events that are malformed (default 0.01). Each bad event
	// carries its BadKind label.
	BadShare float64
	// BadMix weighs the bad kinds relative to each other (nil = all kinds equally).
	BadMix map[BadKind]float64
	// Mix weighs the human archetypes: the share of visitors of each archetype
	// (nil = DefaultMix; weights need not sum to 1; absent archetypes get none).
	Mix map[Archetype]float64
	// Canaries plants registered canary identifiers in every field and hiding place
	// (see Generator.Canaries). Meant for privacy tests; the canary list grows with the
	// number of visitors and sessions generated (~3 values and ~10 search strings per
	// event), so keep canary streams to test size.
	Canaries bool
}

// DefaultConfig returns the configuration used by `personas generate` and the demo,
// with Start left zero (= now) and Visitors zero (= sized from the rate).
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Bots:            40,
		EventsPerSecond: 200,
		DayLength:       24 * time.Hour,
		Diurnal:         1,
		UTCOffset:       time.Hour,
		BotShare:        0.04,
		BadShare:        0.01,
		Mix:             DefaultMix(),
	}
}

// Validate reports configuration errors with messages fit for a CLI user.
func (c Config) Validate() error {
	var errs []error
	if c.Visitors < 0 {
		errs = append(errs, fmt.Errorf("visitors must be >= 0, got %d", c.Visitors))
	}
	if c.Bots < 0 {
		errs = append(errs, fmt.Errorf("bots must be >= 0, got %d", c.Bots))
	}
	if c.EventsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("events per second must be >= 0, got %g", c.EventsPerSecond))
	}
	if c.DayLength < 0 {
		errs = append(errs, fmt.Errorf("day length must be >= 0, got %s", c.DayLength))
	}
	if c.Diurnal < 0 || c.Diurnal > 1 {
		errs = append(errs, fmt.Errorf("diurnal strength must be within [0,1], got %g", c.Diurnal))
	}
	if c.BotShare < 0 || c.BotShare >= 1 {
		errs = append(errs, fmt.Errorf("bot share must be within [0,1), got %g", c.BotShare))
	}
	if c.BadShare < 0 || c.BadShare > 1 {
		errs = append(errs, fmt.Errorf("bad share must be within [0,1], got %g", c.BadShare))
	}
	if c.Mix != nil {
		sum := 0.0
		for a, w := range c.Mix {
			if a == ArchetypeNone || a == Bot || a >= numArchetypes {
				errs = append(errs, fmt.Errorf("mix: %s is not a human archetype", a))
			}
			if w < 0 {
				errs = append(errs, fmt.Errorf("mix: weight of %s must be >= 0, got %g", a, w))
			}
			sum += w
		}
		if sum <= 0 {
			errs = append(errs, errors.New("mix: at least one archetype needs a positive weight"))
		}
	}
	for k, w := range c.BadMix {
		if k == Valid || k >= numBadKinds {
			errs = append(errs, fmt.Errorf("bad mix: %s is not a bad kind", k))
		}
		if w < 0 {
			errs = append(errs, fmt.Errorf("bad mix: weight of %s must be >= 0, got %g", k, w))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("synth config: %w", errors.Join(errs...))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Bots <= 0 {
		c.Bots = 40
	}
	if c.EventsPerSecond <= 0 {
		c.EventsPerSecond = 200
	}
	if c.DayLength <= 0 {
		c.DayLength = 24 * time.Hour
	}
	if c.Diurnal < 0 {
		c.Diurnal = 0
	}
	if c.Diurnal > 1 {
		c.Diurnal = 1
	}
	if c.BotShare < 0 {
		c.BotShare = 0
	}
	if c.BotShare > 0.95 {
		c.BotShare = 0.95
	}
	if c.BadShare < 0 {
		c.BadShare = 0
	}
	if c.BadShare > 1 {
		c.BadShare = 1
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	if c.Visitors <= 0 {
		scale := float64(c.DayLength) / float64(24*time.Hour)
		c.Visitors = max(10000, int(300*c.EventsPerSecond*scale))
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	c.Start = c.Start.UTC()
	return c
}
