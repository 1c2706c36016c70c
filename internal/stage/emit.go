package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/retry"
	"github.com/personas-dev/personas/schemas"
)

// EmitConfig configures the emit stage.
type EmitConfig struct {
	Figures        aggregate.Store // reads persona figures
	State          emit.Store      // lease, states, outbox
	Segments       *segment.Config
	Personas       []string
	ModelVersion   string
	Windows        []time.Duration // snapshot windows
	K              int
	Noise          privacy.Noiser
	Tick           time.Duration
	SnapshotEvery  time.Duration
	LeaseTTL       time.Duration
	Epoch          time.Duration
	ChangesTopic   string
	SnapshotsTopic string
	Now            func() time.Time
	Logger         *zap.Logger
	Hooks          EmitHooks
	Backoff        retry.Backoff
}

// EmitHooks observe the emit stage (metrics, health, the dashboard).
type EmitHooks struct {
	Leader    func(bool)
	Published func(ev schemas.SegmentChange)
	Snapshot  func(s schemas.Snapshot)
	Error     func(err error)
	OK        func()
}

// Writer publishes the outbox: every message is acknowledged (by all
// in-sync replicas) when Write returns nil, and messages are written in
// order. *kafkax.OrderedWriter is the production implementation.
type Writer interface {
	Write(ctx context.Context, msgs []kafka.Message) error
}

var _ Writer = (*kafkax.OrderedWriter)(nil)

// Emitter is the emit stage: on every tick the instance holding the lease
// evaluates the segments and publishes changes and snapshots.
type Emitter struct {
	cfg    EmitConfig
	w      Writer
	holder string
	// orphansLogged: the personas left in segments that are no longer
	// defined were logged (once per process, on its first evaluation).
	orphansLogged bool
}

// NewEmitter returns the emit stage.
func NewEmitter(conn *kafkax.Conn, w Writer, cfg EmitConfig) *Emitter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Noise == nil {
		cfg.Noise = privacy.None
	}
	if cfg.Backoff == (retry.Backoff{}) {
		cfg.Backoff = retry.DefaultBackoff
	}
	host, _ := os.Hostname()
	return &Emitter{cfg: cfg, w: w, holder: host + "/" + strconv.Itoa(os.Getpid()) + "/" + uuid.NewString()[:8]}
}

// Run ticks until ctx is cancelled; the lease is released at the end.
func (e *Emitter) Run(ctx context.Context) error {
	log := e.cfg.Logger
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = e.cfg.State.Release(rctx, e.holder)
		e.hook(func(h EmitHooks) {
			if h.Leader != nil {
				h.Leader(false)
			}
		})
	}()
	// The lease is renewed more often than it expires, also between ticks
	// (a tick may be longer than the lease), so leadership stays put while
	// the leader lives, and moves within one lease TTL when it dies.
	renewEvery := min(e.cfg.Tick, e.cfg.LeaseTTL/3)
	failures := 0
	nextTick := time.Now()
	for {
		if !time.Now().Before(nextTick) {
			// The tick in flight finishes even at shutdown (bounded).
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Tick+10*time.Second)
			err := e.Tick(tctx)
			cancel()
			wait := e.cfg.Tick
			if err != nil {
				failures++
				log.Warn("emit tick failed; will retry", zap.Error(retry.Redact(err)), zap.Int("attempt", failures))
				e.hook(func(h EmitHooks) {
					if h.Error != nil {
						h.Error(err)
					}
				})
				wait = min(wait, e.cfg.Backoff.Delay(failures))
			} else {
				if failures > 0 {
					log.Info("emit recovered", zap.Int("after_attempts", failures))
				}
				failures = 0
				e.hook(func(h EmitHooks) {
					if h.OK != nil {
						h.OK()
					}
				})
			}
			nextTick = time.Now().Add(wait)
		} else {
			rctx, cancel := context.WithTimeout(ctx, renewEvery)
			_, leader, err := e.cfg.State.Acquire(rctx, e.holder, e.cfg.LeaseTTL)
			cancel()
			if err == nil && e.cfg.Hooks.Leader != nil {
				e.cfg.Hooks.Leader(leader)
			}
		}
		sleep := min(time.Until(nextTick), renewEvery)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(sleep, 0)):
		}
	}
}

func (e *Emitter) hook(f func(EmitHooks)) { f(e.cfg.Hooks) }

// Tick runs one evaluation if this instance holds (or gets) the lease.
func (e *Emitter) Tick(ctx context.Context) error {
	cfg := &e.cfg
	token, leader, err := cfg.State.Acquire(ctx, e.holder, cfg.LeaseTTL)
	if err != nil {
		return err
	}
	if cfg.Hooks.Leader != nil {
		cfg.Hooks.Leader(leader)
	}
	if !leader {
		return nil
	}
	// Events a crashed leader committed but did not publish go out first.
	if err := e.flush(ctx); err != nil {
		return err
	}

	now := cfg.Now().UTC()
	windows := slices.Clone(cfg.Windows)
	for _, s := range cfg.Segments.Segments {
		if !slices.Contains(windows, s.Window) {
			windows = append(windows, s.Window)
		}
	}
	cur := map[time.Duration]*aggregate.WindowFigures{}
	prev := map[time.Duration]*aggregate.WindowFigures{}
	for _, w := range windows {
		if cur[w], err = cfg.Figures.ReadWindow(ctx, now.Add(-w), now); err != nil {
			return err
		}
		if prev[w], err = cfg.Figures.ReadWindow(ctx, now.Add(-2*w), now.Add(-w)); err != nil {
			return err
		}
	}
	states, err := cfg.State.States(ctx)
	if err != nil {
		return err
	}
	if !e.orphansLogged {
		e.orphansLogged = true
		if orphans := segment.Orphans(cfg.Segments, states); len(orphans) > 0 {
			names := make([]string, len(orphans))
			for i, k := range orphans {
				names[i] = k.String()
			}
			cfg.Logger.Warn("personas are still in segments that are no longer defined; no segment.exited is sent for them",
				zap.Strings("segment_personas", names))
		}
	}
	res, err := segment.Evaluate(cfg.Segments, states, segment.Input{Now: now, K: cfg.K, Current: cur, Previous: prev, Personas: cfg.Personas})
	if err != nil {
		return err
	}
	for _, ee := range res.Errors {
		cfg.Logger.Warn("segment condition failed to evaluate", zap.String("segment", ee.Segment), zap.String("side", ee.Side), zap.Error(ee.Err))
	}

	meta := segment.Meta{ModelVersion: cfg.ModelVersion, SegmentsVersion: cfg.Segments.Version, K: cfg.K, Epoch: now.Unix() / int64(cfg.Epoch/time.Second)}
	gated := map[time.Duration]*privacy.Window{}
	gate := func(w time.Duration) *privacy.Window {
		if g, ok := gated[w]; ok {
			return g
		}
		g := privacy.GateWindow(cur[w], cfg.K, cfg.Noise)
		g.Length = w
		gated[w] = &g
		return &g
	}
	var out []emit.Outboxed
	var changes []schemas.SegmentChange
	for _, c := range res.Changes {
		ev, err := segment.BuildChange(c, gate(c.Window), meta)
		if err != nil {
			return fmt.Errorf("build change: %w", err)
		}
		b, _ := json.Marshal(ev)
		out = append(out, emit.Outboxed{ID: ev.EventID, Topic: cfg.ChangesTopic, Key: []byte(ev.Persona), Value: b})
		changes = append(changes, ev)
	}
	var snaps []schemas.Snapshot
	last, err := cfg.State.LastSnapshot(ctx)
	if err != nil {
		return err
	}
	snapAt := time.Time{}
	if now.Sub(last) >= cfg.SnapshotEvery {
		snapAt = now
		for _, w := range cfg.Windows {
			s, err := segment.BuildSnapshot(gate(w), meta, now, cfg.SnapshotEvery)
			if err != nil {
				return fmt.Errorf("build snapshot: %w", err)
			}
			b, _ := json.Marshal(s)
			out = append(out, emit.Outboxed{ID: s.EventID, Topic: cfg.SnapshotsTopic, Key: []byte(s.Window), Value: b})
			snaps = append(snaps, s)
		}
	}
	if err := cfg.State.Commit(ctx, e.holder, token, res.States, out, snapAt); err != nil {
		if errors.Is(err, emit.ErrNotLeader) {
			cfg.Logger.Info("emit lease lost before commit; nothing published")
			if cfg.Hooks.Leader != nil {
				cfg.Hooks.Leader(false)
			}
			return nil
		}
		return err
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	for _, c := range changes {
		cfg.Logger.Info("segment change published", zap.String("type", c.Type), zap.String("segment", c.Segment),
			zap.String("persona", c.Persona), zap.Int64("sequence", c.Sequence), zap.String("event_id", c.EventID))
		if cfg.Hooks.Published != nil {
			cfg.Hooks.Published(c)
		}
	}
	for _, s := range snaps {
		if cfg.Hooks.Snapshot != nil {
			cfg.Hooks.Snapshot(s)
		}
	}
	return nil
}

// flush publishes the outbox and removes what was acknowledged.
func (e *Emitter) flush(ctx context.Context) error {
	pending, err := e.cfg.State.Pending(ctx)
	if err != nil || len(pending) == 0 {
		return err
	}
	msgs := make([]kafka.Message, len(pending))
	ids := make([]string, len(pending))
	for i, p := range pending {
		msgs[i] = kafka.Message{Topic: p.Topic, Key: p.Key, Value: p.Value,
			Headers: []kafka.Header{{Key: "event_id", Value: []byte(p.ID)}}}
		ids[i] = p.ID
	}
	if err := e.w.Write(ctx, msgs); err != nil {
		return err
	}
	return e.cfg.State.Done(ctx, ids)
}
