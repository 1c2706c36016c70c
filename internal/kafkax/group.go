package kafkax

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/retry"
)

// Batch is a run of consecutive messages of one partition.
type Batch struct {
	Topic      string
	Partition  int
	Generation int32
	Messages   []kafka.Message
}

// First and Last return the batch's first and last offsets.
func (b *Batch) First() int64 { return b.Messages[0].Offset }

// Last returns the offset of the batch's last message.
func (b *Batch) Last() int64 { return b.Messages[len(b.Messages)-1].Offset }

// Processor handles the batches of one assigned partition, in order.
type Processor interface {
	// Process handles one batch. Returning nil promises that the batch's
	// effects are durable: the runner then commits the offset after it (D1).
	// Bad input must not make Process fail (it goes to the DLQ, D3); an error
	// means a dependency failed, and the runner retries the same batch with
	// backoff until it succeeds or the partition is taken away (D4). A
	// retry.Fatal error (for example a lost fence) stops the partition.
	Process(ctx context.Context, b *Batch) error
	// Close is called once when the partition is given up, after the last
	// Process call returned.
	Close()
}

// Opener creates the processor of a partition when it is assigned.
type Opener interface {
	// Open is called when this instance gets a partition. committed is the
	// group's committed offset, or kafka.FirstOffset / kafka.LastOffset when
	// there is none. It returns the processor and the offset to read from:
	// committed, or a position the processor stored itself next to its state.
	Open(ctx context.Context, topic string, partition int, generation int32, committed int64) (Processor, int64, error)
}

// Observer receives what the runner does, for metrics and health; the
// runner itself only logs. All methods must be cheap and safe for concurrent
// use. NopObserver ignores everything.
type Observer interface {
	Assigned(topic string, partition int)
	Revoked(topic string, partition int)
	Batch(topic string, partition int, n int, took time.Duration)
	Retry(topic string, partition int, err error)
	Recovered(topic string, partition int, after time.Duration)
	Lag(topic string, partition int, lag int64)
	GroupError(err error)
	GroupJoined()
}

// NopObserver is an Observer that does nothing.
type NopObserver struct{}

func (NopObserver) Assigned(string, int)                  {}
func (NopObserver) Revoked(string, int)                   {}
func (NopObserver) Batch(string, int, int, time.Duration) {}
func (NopObserver) Retry(string, int, error)              {}
func (NopObserver) Recovered(string, int, time.Duration)  {}
func (NopObserver) Lag(string, int, int64)                {}
func (NopObserver) GroupError(error)                      {}
func (NopObserver) GroupJoined()                          {}

// ConsumerGroup returns the runner settings that kafka.consumer gives every
// consumer group (the stages and the bench's pass-through alike), for group
// reading topic; callers add Logger, Observer and DrainTimeout.
func ConsumerGroup(c config.Consumer, group, topic string) GroupConfig {
	start := kafka.FirstOffset
	if c.StartFrom == "latest" {
		start = kafka.LastOffset
	}
	return GroupConfig{
		GroupID:        group,
		Topic:          topic,
		MaxBatch:       c.MaxBatch,
		Linger:         c.Linger,
		MaxBytes:       c.MaxBytes,
		SessionTimeout: c.SessionTimeout,
		StartOffset:    start,
	}
}

// GroupConfig configures a consumer-group runner.
type GroupConfig struct {
	// GroupID is the consumer group. Required.
	GroupID string
	// Topic is the topic consumed. Required.
	Topic string
	// MaxBatch is the most messages per batch. Default: 2000.
	MaxBatch int
	// Linger is how long to wait for more messages before handling a partial
	// batch. Default: 20ms.
	Linger time.Duration
	// MaxBytes is the most bytes per fetch. Default: 10 MiB.
	MaxBytes int
	// SessionTimeout is the group session timeout. Default: 10s.
	SessionTimeout time.Duration
	// StartOffset is used when the group has no committed offset:
	// kafka.FirstOffset or kafka.LastOffset. Default: kafka.FirstOffset.
	StartOffset int64
	// DrainTimeout bounds how long a batch in flight may take to finish at
	// shutdown or rebalance. Default: 15s.
	DrainTimeout time.Duration
	// Backoff paces retries of a failing batch. Default: retry.DefaultBackoff.
	Backoff retry.Backoff
	// Observer receives events for metrics and health. Default: NopObserver.
	Observer Observer
	// Logger logs lifecycle and failures, never message contents.
	// Default: zap.NewNop().
	Logger *zap.Logger
}

func (c *GroupConfig) defaults() error {
	if c.GroupID == "" || c.Topic == "" {
		return errors.New("kafkax: GroupID and Topic are required")
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.Linger <= 0 {
		c.Linger = 20 * time.Millisecond
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 15 * time.Second
	}
	if c.Backoff == (retry.Backoff{}) {
		c.Backoff = retry.DefaultBackoff
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// RunGroup consumes cfg.Topic in consumer group cfg.GroupID until ctx is
// cancelled. Each assigned partition gets its own goroutine, reader and
// processor. On cancellation (SIGTERM) every partition finishes the batch in
// flight, commits it, and the member leaves the group; RunGroup then returns
// nil. Rebalances are handled the same way, and the runner joins the next
// generation.
func RunGroup(ctx context.Context, conn *Conn, cfg GroupConfig, opener Opener) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Logger.With(zap.String("group", cfg.GroupID), zap.String("topic", cfg.Topic))
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           conn.Brokers,
		Dialer:            conn.Dialer(),
		Topics:            []string{cfg.Topic},
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout * 2,
		HeartbeatInterval: cfg.SessionTimeout / 5,
		JoinGroupBackoff:  time.Second,
		StartOffset:       cfg.StartOffset,
		// The partition watcher notices added partitions and rebalances.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		Timeout:                10 * time.Second,
		ErrorLogger:            kafka.LoggerFunc(func(string, ...any) {}),
	})
	if err != nil {
		return fmt.Errorf("kafkax: consumer group %s: %w", cfg.GroupID, err)
	}
	defer group.Close()

	failures := 0
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			failures++
			cfg.Observer.GroupError(err)
			log.Warn("consumer group: cannot join yet, retrying", zap.Error(retry.Redact(err)), zap.Int("attempt", failures))
			if !retry.Sleep(ctx, cfg.Backoff.Delay(failures)) {
				return nil
			}
			continue
		}
		failures = 0
		cfg.Observer.GroupJoined()
		assigned := gen.Assignments[cfg.Topic]
		parts := make([]int, 0, len(assigned))
		for _, a := range assigned {
			parts = append(parts, a.ID)
		}
		log.Info("generation joined", zap.Int32("generation", gen.ID), zap.Ints("partitions", parts))
		committer := &committer{gen: gen, topic: cfg.Topic, pending: map[int]int64{}}
		for _, a := range assigned {
			a := a
			gen.Start(func(genCtx context.Context) {
				runPartition(ctx, genCtx, conn, cfg, log, opener, gen.ID, a, committer)
			})
		}
		if len(assigned) > 0 {
			gen.Start(func(genCtx context.Context) { committer.run(ctx, genCtx, log) })
		}
		if len(assigned) == 0 {
			// Nothing assigned: still take part in the group until the next
			// rebalance or shutdown.
			gen.Start(func(genCtx context.Context) {
				select {
				case <-genCtx.Done():
				case <-ctx.Done():
				}
			})
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// commitInterval is how often the offsets of processed batches are
// committed.
const commitInterval = time.Second

// committer commits the offsets of one generation's partitions. The
// partitions mark an offset once its batch is durable; the offsets marked
// are committed together every commitInterval, and a partition's when it
// is given up, rather than after every batch: a commit is a Kafka round
// trip, and the partitions took turns for it after each of their batches,
// which under steady traffic (small batches) cost more than the batches.
// A crash loses at most commitInterval of commits: those batches are read
// again and the processors absorb them (deterministic ids, stored
// positions), as they absorb any replay.
type committer struct {
	mu      sync.Mutex // one commit at a time
	gen     *kafka.Generation
	topic   string
	pmu     sync.Mutex // guards pending
	pending map[int]int64
}

// mark records that a partition's offsets before next are durable.
func (c *committer) mark(partition int, next int64) {
	c.pmu.Lock()
	c.pending[partition] = next
	c.pmu.Unlock()
}

// commit commits a partition's offset now.
func (c *committer) commit(partition int, next int64) error {
	c.mark(partition, next)
	return c.flush(partition)
}

// flush commits what is marked: of the given partitions, or of all.
func (c *committer) flush(only ...int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pmu.Lock()
	offs := map[int]int64{}
	for p, o := range c.pending {
		if len(only) == 0 || slices.Contains(only, p) {
			offs[p] = o
			delete(c.pending, p)
		}
	}
	c.pmu.Unlock()
	if len(offs) == 0 {
		return nil
	}
	err := c.gen.CommitOffsets(map[string]map[int]int64{c.topic: offs})
	if err != nil {
		// Keep them for the next attempt, unless newer ones came.
		c.pmu.Lock()
		for p, o := range offs {
			if _, ok := c.pending[p]; !ok {
				c.pending[p] = o
			}
		}
		c.pmu.Unlock()
	}
	return err
}

// run commits every commitInterval until the generation ends or the
// process stops (the partitions commit their last offsets themselves).
func (c *committer) run(ctx, genCtx context.Context, log *zap.Logger) {
	t := time.NewTicker(commitInterval)
	defer t.Stop()
	for {
		select {
		case <-genCtx.Done():
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.flush(); err != nil {
			// Not fatal: the effects are durable; the next commit covers
			// these offsets, and a replay is absorbed by the processors.
			log.Warn("offset commit failed", zap.Error(retry.Redact(err)))
		}
	}
}

// runPartition reads and processes one partition until the generation ends
// or the process stops.
func runPartition(ctx, genCtx context.Context, conn *Conn, cfg GroupConfig, log *zap.Logger,
	opener Opener, generation int32, a kafka.PartitionAssignment, com *committer) {
	log = log.With(zap.Int("partition", a.ID))
	// stop ends when either the generation ends (rebalance) or the process
	// shuts down; in both cases the batch in flight is finished first.
	stop, cancel := context.WithCancel(genCtx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-stop.Done():
		}
	}()

	var proc Processor
	var start int64
	var openFailing time.Time
	for attempt := 1; ; attempt++ {
		var err error
		began := time.Now()
		proc, start, err = opener.Open(stop, cfg.Topic, a.ID, generation, a.Offset)
		if err == nil {
			if !openFailing.IsZero() {
				// Readiness was marked degraded by the retries: clear it.
				d := time.Since(openFailing)
				cfg.Observer.Recovered(cfg.Topic, a.ID, d)
				log.Info("dependency recovered, partition state opened", zap.Duration("after", d))
			}
			break
		}
		if openFailing.IsZero() {
			openFailing = began
		}
		if stop.Err() != nil {
			return
		}
		cfg.Observer.Retry(cfg.Topic, a.ID, err)
		log.Warn("cannot open partition state, retrying", zap.Error(retry.Redact(err)), zap.Int("attempt", attempt))
		if retry.IsFatal(err) || !retry.Sleep(stop, cfg.Backoff.Delay(attempt)) {
			return
		}
	}
	cfg.Observer.Assigned(cfg.Topic, a.ID)
	defer cfg.Observer.Revoked(cfg.Topic, a.ID)
	defer proc.Close()

	reader := NewPartitionReader(conn, ReaderConfig{Topic: cfg.Topic, Partition: a.ID, MaxBatch: cfg.MaxBatch, MaxBytes: cfg.MaxBytes})
	defer reader.Close()
	if err := reader.SetOffset(start); err != nil {
		log.Error("cannot set start offset", zap.Int64("offset", start), zap.Error(err))
		return
	}
	log.Info("partition assigned", zap.Int64("start_offset", start))
	if start >= 0 && start != a.Offset {
		// The processor resumes from a position it stored itself (after a
		// crash between its write and the commit, or for a group without
		// committed offsets): record it, so that the group's lag is right
		// even when nothing new arrives.
		if err := com.commit(a.ID, start); err != nil {
			log.Warn("offset commit failed", zap.Int64("offset", start), zap.Error(retry.Redact(err)))
		}
	}

	// Whatever way the partition ends, the offsets of its finished batches
	// are committed before it is given up.
	defer func() {
		if err := com.flush(a.ID); err != nil {
			log.Warn("offset commit failed", zap.Error(retry.Redact(err)))
		}
	}()
	batch := &Batch{Topic: cfg.Topic, Partition: a.ID, Generation: generation, Messages: make([]kafka.Message, 0, cfg.MaxBatch)}
	fetchErrors := 0
	var fetchFailing time.Time
	for {
		var err error
		batch.Messages, err = reader.Fill(stop, batch.Messages[:0], cfg.Linger)
		if err != nil {
			if stop.Err() != nil {
				log.Info("partition released")
				return
			}
			fetchErrors++
			if fetchFailing.IsZero() {
				fetchFailing = time.Now()
			}
			cfg.Observer.Retry(cfg.Topic, a.ID, err)
			log.Warn("fetch failed, the reader retries", zap.Error(retry.Redact(err)), zap.Int("attempt", fetchErrors))
			if !retry.Sleep(stop, cfg.Backoff.Delay(fetchErrors)) {
				return
			}
			continue
		}
		if fetchErrors > 0 {
			d := time.Since(fetchFailing)
			cfg.Observer.Recovered(cfg.Topic, a.ID, d)
			log.Info("dependency recovered, fetching resumed", zap.Duration("after", d))
			fetchErrors, fetchFailing = 0, time.Time{}
		}
		cfg.Observer.Lag(cfg.Topic, a.ID, reader.Lag())

		if !processWithRetry(ctx, stop, cfg, log, proc, batch) {
			return
		}
		com.mark(a.ID, batch.Last()+1)
	}
}

// processWithRetry runs Process until it succeeds (true) or the partition is
// given up (false). A batch that has started is finished even during
// shutdown, within DrainTimeout.
func processWithRetry(ctx, stop context.Context, cfg GroupConfig, log *zap.Logger, proc Processor, b *Batch) bool {
	var failingSince time.Time
	for attempt := 1; ; attempt++ {
		// The batch gets its own context: shutdown must not cut a batch in
		// half, only bound how long it may take.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
		began := time.Now()
		err := proc.Process(bctx, b)
		cancel()
		if err == nil {
			cfg.Observer.Batch(b.Topic, b.Partition, len(b.Messages), time.Since(began))
			if !failingSince.IsZero() {
				d := time.Since(failingSince)
				cfg.Observer.Recovered(b.Topic, b.Partition, d)
				log.Info("dependency recovered, processing resumed", zap.Duration("after", d))
			}
			return true
		}
		if failingSince.IsZero() {
			failingSince = began
		}
		cfg.Observer.Retry(b.Topic, b.Partition, err)
		if retry.IsFatal(err) {
			log.Warn("partition stopped", zap.Error(retry.Redact(err)))
			return false
		}
		log.Warn("batch failed, paused with backoff; the batch is kept and retried",
			zap.Error(retry.Redact(err)), zap.Int("attempt", attempt), zap.Int64("first_offset", b.First()), zap.Int("messages", len(b.Messages)))
		if !retry.Sleep(stop, cfg.Backoff.Delay(attempt)) {
			return false
		}
	}
}
