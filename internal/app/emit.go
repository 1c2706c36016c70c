package app

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/stage"
	"github.com/personas-dev/personas/schemas"
)

// Segments loads the segment definitions the configuration names (or the
// built-in set), checked against the model's personas and the windows.
func (a *App) Segments() (*segment.Config, error) {
	opts := segment.Options{Windows: a.Cfg.Aggregate.Windows, Personas: a.Model.PersonaNames()}
	if a.Cfg.Emit.Segments != "" {
		c, err := segment.Load(a.Cfg.Emit.Segments, opts)
		if err != nil {
			return nil, fmt.Errorf("emit.segments: %w", err)
		}
		return c, nil
	}
	return segment.Default(opts)
}

func (a *App) newEmitter() (*stage.Emitter, error) {
	segs, err := a.Segments()
	if err != nil {
		return nil, err
	}
	for _, w := range segs.Warnings {
		a.Log.Warn("segment definitions", zap.String("warning", w))
	}
	noise, err := privacy.New(a.Cfg.Emit.Noise.Mechanism, a.Cfg.Emit.Noise.Epsilon)
	if err != nil {
		return nil, fmt.Errorf("emit.noise: %w", err)
	}
	c := a.Cfg
	m := a.Metrics
	windows := make([]string, len(c.Aggregate.Windows))
	for i, w := range c.Aggregate.Windows {
		windows[i] = segment.FormatWindow(w)
	}
	m.InitWindows(windows)
	return stage.NewEmitter(a.Kafka, kafkax.NewOrderedWriter(a.Kafka, a.Kafka.Transport(), c.Kafka.Producer), stage.EmitConfig{
		Figures:        aggStoreErrors{a.Store, a.storeErrors(StageEmit)},
		State:          emitStoreErrors{redisx.NewEmitStore(a.Redis, c.Redis.KeyPrefix), a.storeErrors(StageEmit)},
		Segments:       segs,
		Personas:       a.Model.PersonaNames(),
		ModelVersion:   a.Model.Version,
		Windows:        c.Aggregate.Windows,
		K:              c.Emit.K,
		Noise:          noise,
		Tick:           c.Emit.Tick,
		SnapshotEvery:  c.Emit.SnapshotEvery,
		LeaseTTL:       c.Emit.LeaseTTL,
		Epoch:          c.Ingest.Epoch,
		ChangesTopic:   c.Kafka.Topics.SegmentChanges,
		SnapshotsTopic: c.Kafka.Topics.Snapshots,
		Logger:         a.Log.With(zap.String("stage", StageEmit)),
		Hooks: stage.EmitHooks{
			Leader: func(l bool) {
				v := 0.0
				if l {
					v = 1
				}
				m.Leader.Set(v)
			},
			Published: func(ev schemas.SegmentChange) { m.SegmentChanges.WithLabelValues(ev.Type).Inc() },
			Snapshot: func(s schemas.Snapshot) {
				m.Snapshots.Inc()
				for _, p := range s.Personas {
					if p.Suppressed {
						m.Suppressed.WithLabelValues(s.Window).Inc()
					}
				}
			},
			Error: func(error) { a.Health.Degraded(StageEmit, "retrying after a dependency error") },
			OK:    func() { a.Health.Recovered(StageEmit) },
		},
	}), nil
}
