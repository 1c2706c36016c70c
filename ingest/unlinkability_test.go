package ingest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/bits"
	"strconv"
	"testing"
	"time"
)

func epochEvent(id string, at time.Time) []byte {
	return []byte(`{"type":"page","name":"Home","anonymousId":"` + id + `","timestamp":"` + at.UTC().Format(time.RFC3339Nano) + `"}`)
}

// TestPseudonymsUnlinkableAcrossEpochs (P3): with 1-minute epochs, the same
// visitors in two consecutive epochs get pseudonyms that share nothing:
// none repeats, and they differ in about half of their 128 bits, as
// unrelated random strings do. Within an epoch a visitor keeps its
// pseudonym.
func TestPseudonymsUnlinkableAcrossEpochs(t *testing.T) {
	tr, err := NewTransformer(Options{Epoch: time.Minute, Grace: 30 * time.Second}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 14, 15, 10, 10, 0, time.UTC) // 10 s into epoch 29557870
	pseudo := func(id string, at time.Time) (string, int64) {
		out, rej, err := tr.Transform(ctx, &Input{Value: epochEvent(id, at)}, now)
		if err != nil || rej != nil {
			t.Fatalf("err %v rej %v", err, rej)
		}
		return string(out.Key), tr.EpochOf(at)
	}
	const n = 1000
	seen := map[string]bool{}
	diff := 0
	for i := 0; i < n; i++ {
		id := "visitor-" + strconv.Itoa(i)
		p, e1 := pseudo(id, now.Add(-40*time.Second)) // previous epoch, in its grace
		q, e2 := pseudo(id, now.Add(-5*time.Second))
		if e2 != e1+1 {
			t.Fatalf("epochs %d and %d are not consecutive", e1, e2)
		}
		if r, _ := pseudo(id, now); r != q {
			t.Fatal("a visitor's pseudonym changed within an epoch")
		}
		if p == q || seen[p] || seen[q] {
			t.Fatalf("visitor %d: a pseudonym repeats", i)
		}
		seen[p], seen[q] = true, true
		pb, _ := hex.DecodeString(p)
		qb, _ := hex.DecodeString(q)
		for j := range pb {
			diff += bits.OnesCount8(pb[j] ^ qb[j])
		}
	}
	if mean := float64(diff) / n; mean < 61 || mean > 67 {
		t.Errorf("pseudonyms of one visitor in two epochs differ in %.1f of 128 bits on average, want about 64", mean)
	}
}

// TestEphemeralKeysRandom (P3): keys are 32 random bytes, one per epoch; two
// fresh stores (two runs of `personas strip` with the same settings) never
// share a key, so nothing about a key follows from the configuration.
func TestEphemeralKeysRandom(t *testing.T) {
	ctx := context.Background()
	a, b := NewEphemeralKeys(), NewEphemeralKeys()
	ka, _ := a.Key(ctx, 7, time.Now().Add(time.Hour))
	ka2, _ := a.Key(ctx, 7, time.Now().Add(time.Hour))
	kb, _ := b.Key(ctx, 7, time.Now().Add(time.Hour))
	k8, _ := a.Key(ctx, 8, time.Now().Add(time.Hour))
	if len(ka) != 32 || !bytes.Equal(ka, ka2) {
		t.Fatalf("key of %d bytes, stable %v", len(ka), bytes.Equal(ka, ka2))
	}
	if bytes.Equal(ka, kb) || bytes.Equal(ka, k8) {
		t.Error("two stores or two epochs share a key")
	}
	// Same settings, two transformers with their own stores: the same
	// visitor gets unrelated pseudonyms.
	now := time.Date(2026, 3, 14, 15, 10, 0, 0, time.UTC)
	var got []string
	for i := 0; i < 2; i++ {
		tr, _ := NewTransformer(Options{}, NewEphemeralKeys())
		out, _, _ := tr.Transform(ctx, &Input{Value: epochEvent("same-visitor", now.Add(-time.Minute))}, now)
		got = append(got, string(out.Key))
	}
	if got[0] == got[1] {
		t.Error("two key stores with the same settings gave the same pseudonym")
	}
}

// TestEpochWindow: an event is pseudonymized under the epoch of its own
// time while that epoch's key may exist (epoch + grace); older events are
// rejected as epoch_expired, since their key is gone or about to go.
func TestEpochWindow(t *testing.T) {
	tr, _ := NewTransformer(Options{Epoch: time.Hour, Grace: 10 * time.Minute}, NewEphemeralKeys())
	now := time.Date(2026, 3, 14, 15, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want Reason
	}{
		{now.Add(-time.Minute), ""},
		{time.Date(2026, 3, 14, 14, 59, 0, 0, time.UTC), ""},                 // previous epoch, in its grace
		{time.Date(2026, 3, 14, 13, 59, 0, 0, time.UTC), ReasonEpochExpired}, // two epochs back
		{now.Add(4 * time.Minute), ""},                                       // clock skew
		{now.Add(time.Hour), ReasonFuture},
	} {
		_, rej, err := tr.Transform(context.Background(), &Input{Value: epochEvent("v", c.at)}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := Reason(""); rej != nil {
			got = rej.Reason
			if got != c.want {
				t.Errorf("event at %s: %s, want %q", c.at.Format(time.TimeOnly), got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("event at %s accepted, want %s", c.at.Format(time.TimeOnly), c.want)
		}
	}
	// After the grace the same previous-epoch event is rejected.
	_, rej, _ := tr.Transform(context.Background(), &Input{Value: epochEvent("v", time.Date(2026, 3, 14, 14, 59, 0, 0, time.UTC))}, now.Add(6*time.Minute))
	if rej == nil || rej.Reason != ReasonEpochExpired {
		t.Errorf("previous-epoch event after the grace: %v, want epoch_expired", rej)
	}
}

type failingKeys struct{}

func (failingKeys) Key(context.Context, int64, time.Time) ([]byte, error) {
	return nil, errors.New("redis: connection refused")
}

// TestKeyStoreFailureIsRetried: without its epoch key the transform cannot
// pseudonymize, and it must not pass the event on or reject it (D4): it
// returns an error, and the stage retries the batch.
func TestKeyStoreFailureIsRetried(t *testing.T) {
	tr, _ := NewTransformer(Options{}, failingKeys{})
	now := time.Date(2026, 3, 14, 15, 5, 0, 0, time.UTC)
	out, rej, err := tr.Transform(context.Background(), &Input{Value: epochEvent("v", now)}, now)
	if err == nil || rej != nil || out.JSON != nil {
		t.Errorf("key store down: out %q, rejection %v, error %v; want only an error", out.JSON, rej, err)
	}
}
