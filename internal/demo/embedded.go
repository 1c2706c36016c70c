package demo

import (
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded are the demo's in-process servers: franz-go's kfake as the
// Kafka-protocol broker and miniredis as Redis, both on loopback ports the
// pipeline's ordinary clients connect to.
type Embedded struct {
	Kafka *kfake.Cluster
	Redis *miniredis.Miniredis
	// Brokers is the bootstrap list of the in-process broker.
	Brokers []string
	// RedisURL is the redis:// URL of the in-process Redis.
	RedisURL string

	stop, done chan struct{}
}

// StartEmbedded starts one in-process broker (topics created on demand with
// the given partition count) and an in-process Redis whose TTLs run on the
// wall clock, as real Redis's do.
func StartEmbedded(partitions int) (*Embedded, error) {
	return startEmbedded(partitions, ttlTick, retentionTick)
}

func startEmbedded(partitions int, ttlEvery, retentionEvery time.Duration) (*Embedded, error) {
	kc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
		kfake.ClusterID("personas-demo"),
	)
	if err != nil {
		return nil, fmt.Errorf("start the in-process Kafka broker (kfake): %w", err)
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		kc.Close()
		return nil, fmt.Errorf("start the in-process Redis (miniredis): %w", err)
	}
	e := &Embedded{
		Kafka:    kc,
		Redis:    mr,
		Brokers:  kc.ListenAddrs(),
		RedisURL: "redis://" + mr.Addr() + "/0",
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go e.housekeeping(ttlEvery, retentionEvery)
	return e, nil
}

const (
	// ttlTick is how often the in-process Redis's TTLs are advanced.
	ttlTick = 5 * time.Second
	// retentionTick is how often the in-process broker drops records
	// older than their topic's retention.ms.
	retentionTick = 30 * time.Second
)

// housekeeping does what the real servers do by themselves.
//
// miniredis only counts TTLs down when told to. Its ClockTTL(true) mode does
// that on every command by walking (and sorting) every key: with tens of
// thousands of visitor states each Lua script call then costs milliseconds
// and the demo stalls within a minute. One FastForward every ttlTick does the
// same walk once per tick; expiry is at most ttlTick late. EXPIREAT and SET
// PXAT are turned into TTLs against the wall clock when they are set, so the
// two stay coherent.
//
// kfake keeps every record in memory and applies retention only when asked;
// without it a demo at 1 000 events/s grows by about 150 MB a minute.
func (e *Embedded) housekeeping(ttlEvery, retentionEvery time.Duration) {
	defer close(e.done)
	ttl := time.NewTicker(ttlEvery)
	defer ttl.Stop()
	ret := time.NewTicker(retentionEvery)
	defer ret.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case now := <-ttl.C:
			e.Redis.FastForward(now.Sub(last))
			last = now
		case <-ret.C:
			e.Kafka.ApplyRetention()
		}
	}
}

// Close stops both servers; their data is gone.
func (e *Embedded) Close() {
	close(e.stop)
	<-e.done
	e.Redis.Close()
	e.Kafka.Close()
}
