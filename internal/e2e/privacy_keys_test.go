package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
)

// TestPrivacyEpochKeys (P3) on real Redis: epoch keys are 32 random bytes,
// created once per epoch and shared by every instance, different for two
// deployments with the same settings and for the same epoch after its key
// was destroyed (nothing derives them from configuration); Redis deletes a
// key at its expiry (end of epoch plus grace) and an instance's memory
// forgets it too.
func TestPrivacyEpochKeys(t *testing.T) {
	url := testenv.RedisURL(t)
	ctx := context.Background()
	c := testenv.Redis(t, url)
	p1, p2 := testenv.Prefix(t), testenv.Prefix(t)
	testenv.CleanRedis(t, url, p1)
	testenv.CleanRedis(t, url, p2)
	const epoch = 20526
	expire := time.Now().Add(time.Hour)

	a, b := redisx.NewEpochKeys(c, p1), redisx.NewEpochKeys(c, p1) // two instances, one deployment
	ka, err := a.Key(ctx, epoch, expire)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.Key(ctx, epoch, expire)
	if len(ka) != 32 || !bytes.Equal(ka, kb) {
		t.Fatalf("two instances got keys of %d and %d bytes that differ: %v", len(ka), len(kb), !bytes.Equal(ka, kb))
	}
	if bytes.Count(ka, ka[:1]) == 32 {
		t.Fatal("the key is one repeated byte")
	}
	other, _ := redisx.NewEpochKeys(c, p2).Key(ctx, epoch, expire) // same settings, another deployment
	if bytes.Equal(ka, other) {
		t.Error("two deployments got the same key for the same epoch")
	}
	next, _ := a.Key(ctx, epoch+1, expire)
	if bytes.Equal(ka, next) {
		t.Error("two epochs got the same key")
	}
	if err := a.Destroy(ctx, epoch); err != nil {
		t.Fatal(err)
	}
	again, _ := redisx.NewEpochKeys(c, p1).Key(ctx, epoch, expire)
	if bytes.Equal(ka, again) {
		t.Error("the key of an epoch came back after it was destroyed: it is derived, not random")
	}
	if at := c.PExpireTime(ctx, a.KeyName(epoch+1)).Val(); at.Milliseconds() != expire.UnixMilli() {
		t.Errorf("key expires at %v, want %v (the expiry the first creator set)", at, expire.UnixMilli())
	}

	// Expiry: Redis deletes the key, and the instance's cache forgets it.
	short := time.Now().Add(1500 * time.Millisecond)
	if _, err := a.Key(ctx, epoch+7, short); err != nil {
		t.Fatal(err)
	}
	name := a.KeyName(epoch + 7)
	if c.Exists(ctx, name).Val() != 1 {
		t.Fatal("the key is not in Redis")
	}
	time.Sleep(time.Until(short) + 300*time.Millisecond)
	if c.Exists(ctx, name).Val() != 0 {
		t.Error("the key is still in Redis after its expiry")
	}
	if _, err := a.Key(ctx, epoch+7, short); err == nil {
		t.Error("the instance still hands out the key after its expiry")
	}
}

// TestPrivacyPseudonymsUnlinkable (P3): under the real key store, the same
// visitors in two epochs get pseudonyms that are all different and no
// closer to each other than random strings (about half of the 128 bits
// differ), and the same visitor in the same epoch gets the same pseudonym
// from every instance.
func TestPrivacyPseudonymsUnlinkable(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	testenv.CleanRedis(t, url, prefix)
	c := testenv.Redis(t, url)
	ctx := context.Background()
	opt := ingest.Options{Epoch: time.Hour, Grace: time.Hour}
	tr1, _ := ingest.NewTransformer(opt, redisx.NewEpochKeys(c, prefix))
	tr2, _ := ingest.NewTransformer(opt, redisx.NewEpochKeys(c, prefix))
	now := time.Now()
	first := now.Add(-time.Hour).Truncate(time.Hour).Add(30 * time.Minute) // previous epoch, still live (grace)
	second := now.Add(-time.Minute)
	pseudo := func(tr *ingest.Transformer, id string, at time.Time) string {
		raw := `{"type":"page","anonymousId":"` + id + `","timestamp":"` + at.UTC().Format(time.RFC3339) + `"}`
		out, rej, err := tr.Transform(ctx, &ingest.Input{Value: []byte(raw)}, now)
		if err != nil || rej != nil {
			t.Fatalf("err %v rej %v", err, rej)
		}
		return string(out.Key)
	}
	const n = 500
	seen := map[string]bool{}
	totalBits := 0
	for i := 0; i < n; i++ {
		id := "visitor-" + strconv.Itoa(i)
		p, q := pseudo(tr1, id, first), pseudo(tr1, id, second)
		if p == q || seen[p] || seen[q] {
			t.Fatalf("visitor %d: pseudonyms repeat across epochs (%s, %s)", i, p, q)
		}
		seen[p], seen[q] = true, true
		if r := pseudo(tr2, id, second); r != q {
			t.Fatalf("two instances disagree on a pseudonym in one epoch")
		}
		pb, _ := hex.DecodeString(p)
		qb, _ := hex.DecodeString(q)
		for j := range pb {
			totalBits += bits.OnesCount8(pb[j] ^ qb[j])
		}
	}
	if mean := float64(totalBits) / n; mean < 60 || mean > 68 {
		t.Errorf("pseudonyms of the same visitor in two epochs differ in %.1f of 128 bits on average, want about 64 (unrelated)", mean)
	}
}

// TestPrivacyEpochRotationIngest (P3) on the real Kafka path: `personas
// ingest` with 1-minute epochs and 20 s grace. The same visitor in two
// epochs gets two unrelated pseudonyms; once the old epoch's key expires
// it is gone from Redis (EXISTS 0), and a late event of that epoch is
// rejected as epoch_expired. The epoch keys never appear in the logs.
func TestPrivacyEpochRotationIngest(t *testing.T) {
	keepLogsOnFailure(t)
	e := newEnv(t, 1, "PERSONAS_INGEST_EPOCH=1m", "PERSONAS_INGEST_GRACE=20s")
	p := e.start("ingest")
	waitFor(t, 90*time.Second, "ingest to join its group", func() bool { return countLogs(p.out.Bytes(), "generation joined") > 0 })
	// Start a few seconds into a minute so that the previous epoch is still
	// live (its key lives until 20 s past the minute) while both events
	// are processed.
	for s := time.Now().Second(); s < 1 || s > 6; s = time.Now().Second() {
		time.Sleep(200 * time.Millisecond)
	}
	now := time.Now()
	cur := now.Unix() / 60
	raw := func(at time.Time) kafka.Message {
		return kafka.Message{Value: []byte(`{"type":"page","name":"Home","anonymousId":"rotating-visitor","timestamp":"` + at.UTC().Format(time.RFC3339Nano) + `"}`)}
	}
	testenv.Produce(t, e.brokers, e.topics["raw"], raw(time.Unix((cur-1)*60+30, 0)), raw(now))
	var evs []schemas.Event
	waitFor(t, 30*time.Second, "two anonymized events", func() bool {
		evs = evs[:0]
		for _, m := range e.readAll(e.topics["events"], 300*time.Millisecond) {
			var ev schemas.Event
			json.Unmarshal(m.Value, &ev)
			evs = append(evs, ev)
		}
		return len(evs) >= 2
	})
	if len(evs) != 2 || evs[0].Epoch != cur-1 || evs[1].Epoch != cur || evs[0].Pseudonym == evs[1].Pseudonym {
		t.Fatalf("want two events in epochs %d and %d with different pseudonyms: %+v", cur-1, cur, evs)
	}
	c := testenv.Redis(t, e.redisURL)
	keys := redisx.NewEpochKeys(c, e.prefix)
	ctx := context.Background()
	old, cur2 := keys.KeyName(cur-1), keys.KeyName(cur)
	oldKey, _ := c.Get(ctx, old).Bytes()
	curKey, _ := c.Get(ctx, cur2).Bytes()
	if len(oldKey) != 32 || len(curKey) != 32 {
		t.Fatalf("epoch keys in Redis: %d and %d bytes, want 32", len(oldKey), len(curKey))
	}
	if at := c.PExpireTime(ctx, old).Val(); at.Milliseconds() != (cur*60+20)*1000 {
		t.Errorf("old epoch key expires at %d ms, want end of epoch + grace = %d", at.Milliseconds(), (cur*60+20)*1000)
	}
	waitFor(t, 40*time.Second, "the old epoch key to expire", func() bool { return c.Exists(ctx, old).Val() == 0 })
	if c.Exists(ctx, cur2).Val() != 1 {
		t.Error("the live epoch's key is gone too")
	}
	// A late event of the expired epoch: its key is gone, so it cannot get
	// a pseudonym; it goes to the DLQ.
	testenv.Produce(t, e.brokers, e.topics["raw"], raw(time.Unix((cur-1)*60+45, 0)))
	waitFor(t, 30*time.Second, "a DLQ record", func() bool { return len(e.readAll(e.topics["dlq"], 300*time.Millisecond)) > 0 })
	var rec schemas.DLQRecord
	json.Unmarshal(e.readAll(e.topics["dlq"], 300*time.Millisecond)[0].Value, &rec)
	if rec.Reason != string(ingest.ReasonEpochExpired) {
		t.Errorf("late event of an expired epoch: reason %q, want epoch_expired", rec.Reason)
	}
	p.stop(t, 30*time.Second)
	logs := p.out.Bytes()
	for _, k := range [][]byte{oldKey, curKey} {
		for _, enc := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), string(k)} {
			if bytes.Contains(logs, []byte(enc)) {
				t.Error("an epoch key appears in the logs")
			}
		}
	}
}

// TestPrivacyForgetDestroyEpoch: `personas forget --destroy-epoch N`
// deletes epoch N's key at once (crypto-shredding), leaving other epochs.
func TestPrivacyForgetDestroyEpoch(t *testing.T) {
	e := newEnv(t, 1)
	c := testenv.Redis(t, e.redisURL)
	ctx := context.Background()
	keys := redisx.NewEpochKeys(c, e.prefix)
	cur := time.Now().Unix() / 86400
	for _, ep := range []int64{cur - 1, cur} {
		if _, err := keys.Key(ctx, ep, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(binary, "forget", "--destroy-epoch", strconv.FormatInt(cur-1, 10))
	cmd.Env = append(cmd.Environ(), e.vars...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("personas forget: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "epoch "+strconv.FormatInt(cur-1, 10)+": key destroyed") {
		t.Errorf("output: %s", out)
	}
	if c.Exists(ctx, keys.KeyName(cur-1)).Val() != 0 {
		t.Error("the destroyed epoch's key is still in Redis")
	}
	if c.Exists(ctx, keys.KeyName(cur)).Val() != 1 {
		t.Error("another epoch's key was destroyed too")
	}
}
