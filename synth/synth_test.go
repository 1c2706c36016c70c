package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mileusna/useragent"
)

var testStart = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Start = testStart
	cfg.Seed = 42
	return cfg
}

// raw is the decoded shape of a generated event.
type raw struct {
	Type        *string         `json:"type"`
	Event       string          `json:"event"`
	Name        string          `json:"name"`
	MessageID   string          `json:"messageId"`
	AnonymousID *string         `json:"anonymousId"`
	UserID      *string         `json:"userId"`
	Timestamp   json.RawMessage `json:"timestamp"`
	SentAt      string          `json:"sentAt"`
	Context     struct {
		IP        string `json:"ip"`
		UserAgent string `json:"userAgent"`
		Locale    string `json:"locale"`
		Library   struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"library"`
		Page *struct {
			Path     string `json:"path"`
			Referrer string `json:"referrer"`
			Search   string `json:"search"`
			Title    string `json:"title"`
			URL      string `json:"url"`
		} `json:"page"`
		Device *struct {
			ID            string `json:"id"`
			AdvertisingID string `json:"advertisingId"`
			Type          string `json:"type"`
			Manufacturer  string `json:"manufacturer"`
			Model         string `json:"model"`
		} `json:"device"`
		Campaign *struct {
			Name    string `json:"name"`
			Source  string `json:"source"`
			Medium  string `json:"medium"`
			Term    string `json:"term"`
			Content string `json:"content"`
		} `json:"campaign"`
		Traits map[string]any `json:"traits"`
	} `json:"context"`
	Properties json.RawMessage `json:"properties"`
	Traits     json.RawMessage `json:"traits"`
}

func decode(t testing.TB, b []byte) (*raw, map[string]any) {
	t.Helper()
	var r raw
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	return &r, m
}

func TestDeterministic(t *testing.T) {
	digest := func(cfg Config, n int) [32]byte {
		g := New(cfg)
		h := sha256.New()
		var ev Event
		for i := 0; i < n; i++ {
			g.Next(&ev)
			h.Write(ev.Key)
			h.Write(ev.Value)
			fmt.Fprintf(h, "%d %s %s %v %d", ev.Time.UnixNano(), ev.Archetype, ev.VisitorID, ev.Bot, ev.Bad)
		}
		return [32]byte(h.Sum(nil))
	}
	cfg := testConfig()
	a, b := digest(cfg, 10000), digest(cfg, 10000)
	if a != b {
		t.Fatal("same config produced different streams")
	}
	cfg.Canaries = true
	cfg.EventsPerSecond = 20
	if digest(cfg, 3000) != digest(cfg, 3000) {
		t.Fatal("canary mode is not deterministic")
	}
	cfg = testConfig()
	cfg.Seed++
	if digest(cfg, 10000) == a {
		t.Fatal("different seeds produced the same stream")
	}
}

var (
	rePath     = regexp.MustCompile(`^/(|c/[a-z]+|p/[a-z0-9-]+-[0-9]{6,8}|search|cart|checkout(/payment)?|account(/login|/register|/orders(/NL[0-9]{8,10})?)?|deals(/[a-z-]+)?|blog/[a-z0-9-]+|help/[a-z-]+)(;jsessionid=[0-9A-F]{32})?$`)
	reProdPath = regexp.MustCompile(`^/p/[a-z0-9-]+-[0-9]{6,8}$`)
)

func TestValidEventsHaveTheRawShape(t *testing.T) {
	cfg := testConfig()
	cfg.BadShare = 0
	g := New(cfg)
	cats := Categories()
	tracks := TrackEvents()
	pages := PageNames()
	var ev Event
	var prev time.Time
	seenTypes := map[string]int{}
	seenTracks := map[string]int{}
	for i := 0; i < 20000; i++ {
		g.Next(&ev)
		if ev.Bad != Valid {
			t.Fatalf("bad event with BadShare 0: %s", ev.Bad)
		}
		if ev.Time.Before(prev) {
			t.Fatalf("event time went backwards: %s after %s", ev.Time, prev)
		}
		prev = ev.Time
		if !utf8.Valid(ev.Value) || len(ev.Value) > OversizeLimit {
			t.Fatalf("invalid UTF-8 or oversized valid event")
		}
		if k := duplicateKey(ev.Value); k != "" {
			t.Fatalf("duplicate key %q: %s", k, ev.Value)
		}
		r, m := decode(t, ev.Value)
		if r.Type == nil || *r.Type != ev.Type.String() {
			t.Fatalf("type: %v want %s", r.Type, ev.Type)
		}
		seenTypes[*r.Type]++
		var ts string
		if err := json.Unmarshal(r.Timestamp, &ts); err != nil {
			t.Fatalf("timestamp not a string: %s", r.Timestamp)
		}
		pt, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts)
		if err != nil || !pt.Equal(ev.Time) || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("timestamp %q does not match event time %s (%v)", ts, ev.Time, err)
		}
		st, err := time.Parse(time.RFC3339Nano, r.SentAt)
		if err != nil || st.Before(pt) || st.Sub(pt) > time.Minute {
			t.Fatalf("sentAt %q vs timestamp %q", r.SentAt, ts)
		}
		if len(r.MessageID) != 36 {
			t.Fatalf("messageId %q", r.MessageID)
		}
		if r.AnonymousID == nil || len(*r.AnonymousID) != 36 {
			t.Fatalf("anonymousId missing: %s", ev.Value)
		}
		if ev.Bot {
			if ev.Key != nil || r.UserID != nil || ev.Archetype != Bot || r.Context.Campaign != nil {
				t.Fatalf("bot event with key/userId/campaign: %s", ev.Value)
			}
			if !useragent.Parse(r.Context.UserAgent).Bot && !strings.Contains(r.Context.UserAgent, "curl/") &&
				!strings.Contains(r.Context.UserAgent, "python-requests") && !strings.Contains(r.Context.UserAgent, "HeadlessChrome") {
				t.Fatalf("bot UA not recognisable: %s", r.Context.UserAgent)
			}
		} else {
			if string(ev.Key) != *r.AnonymousID || ev.VisitorID != *r.AnonymousID {
				t.Fatalf("key %q / visitor %q / anonymousId %q differ", ev.Key, ev.VisitorID, *r.AnonymousID)
			}
			if (r.UserID != nil) != ev.SignedIn {
				t.Fatalf("userId presence %v, SignedIn %v", r.UserID != nil, ev.SignedIn)
			}
			if (r.Context.Campaign != nil) != ev.Campaign {
				t.Fatalf("campaign presence mismatch")
			}
		}
		if r.Context.IP == "" || r.Context.UserAgent == "" || r.Context.Library.Name == "" {
			t.Fatalf("context incomplete: %s", ev.Value)
		}
		if c := r.Context.Campaign; c != nil {
			if !slices.Contains(CampaignSources(), c.Source) || !slices.Contains(CampaignMediums(), c.Medium) || !slices.Contains(CampaignNames(), c.Name) {
				t.Fatalf("campaign outside the vocabulary: %+v", c)
			}
		}
		switch ev.Type {
		case TypeTrack:
			if !slices.Contains(tracks, r.Event) || r.Event != ev.Name {
				t.Fatalf("track event %q not in vocabulary", r.Event)
			}
			seenTracks[r.Event]++
		case TypePage, TypeScreen:
			if !slices.Contains(pages, r.Name) {
				t.Fatalf("page name %q not in vocabulary", r.Name)
			}
		case TypeIdentify:
			var tr map[string]any
			if json.Unmarshal(r.Traits, &tr) != nil || tr["email"] == nil {
				t.Fatalf("identify without traits.email: %s", ev.Value)
			}
		}
		if ev.Type != TypeIdentify {
			var props map[string]any
			if err := json.Unmarshal(r.Properties, &props); err != nil {
				t.Fatalf("properties is not an object: %s", ev.Value)
			}
			if c, ok := props["category"]; ok && !slices.Contains(cats, c.(string)) {
				t.Fatalf("category %v not in vocabulary", c)
			}
			if c, _ := props["category"].(string); c != ev.Category && ev.Type == TypeTrack && ev.Name != EventProductsSearched {
				t.Fatalf("ground-truth category %q vs property %q", ev.Category, c)
			}
			if ev.Name == EventProductViewed || ev.Name == EventProductAdded {
				for _, k := range []string{"product_id", "sku", "category", "name", "brand", "price", "currency"} {
					if _, ok := props[k]; !ok {
						t.Fatalf("%s without %s: %s", ev.Name, k, ev.Value)
					}
				}
			}
			if ev.Name == EventOrderCompleted {
				for _, k := range []string{"order_id", "total", "revenue", "currency", "products"} {
					if _, ok := props[k]; !ok {
						t.Fatalf("%s without %s", ev.Name, k)
					}
				}
			}
		}
		if p := r.Context.Page; p != nil {
			if !rePath.MatchString(p.Path) {
				t.Fatalf("unexpected path %q", p.Path)
			}
			if ev.Name == PageProduct && !reProdPath.MatchString(strings.Split(p.Path, ";")[0]) {
				t.Fatalf("product path %q", p.Path)
			}
			if !strings.HasPrefix(p.URL, origin+p.Path+p.Search) {
				t.Fatalf("url %q does not start with origin+path+search", p.URL)
			}
		} else if ev.Type != TypeScreen && !(ev.Type == TypeTrack || ev.Type == TypeIdentify) || m["context"].(map[string]any)["device"] == nil && r.Context.Page == nil {
			t.Fatalf("web event without context.page or app event without device: %s", ev.Value)
		}
	}
	for _, ty := range []string{"page", "track", "identify", "screen"} {
		if seenTypes[ty] == 0 {
			t.Errorf("no %s events", ty)
		}
	}
	for _, tr := range tracks {
		if seenTracks[tr] == 0 {
			t.Errorf("no %q events in 60k", tr)
		}
	}
	t.Logf("types %v", seenTypes)
	t.Logf("tracks %v", seenTracks)
}

// duplicateKey returns a key that occurs twice in one JSON object of b, or "".
func duplicateKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.expKey = true
				}
				stack = append(stack, &frame{obj: v == '{', keys: map[string]bool{}, expKey: true})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.obj {
				if top.expKey {
					k, _ := v.(string)
					if top.keys[k] {
						return k
					}
					top.keys[k] = true
					top.expKey = false
				} else {
					top.expKey = true
				}
			}
		}
	}
}

func TestUserAgentsClassify(t *testing.T) {
	for i := 0; i < 50; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 1))
		for _, c := range []struct {
			list []uaTmpl
			dev  string
		}{{desktopUAs, "desktop"}, {mobileUAs, "mobile"}, {tabletUAs, "tablet"}} {
			ua := pickUA(r, c.list)
			p := useragent.Parse(ua)
			got := "desktop"
			switch {
			case p.Bot:
				got = "bot"
			case p.Tablet:
				got = "tablet"
			case p.Mobile:
				got = "mobile"
			}
			if got == "mobile" && c.dev == "tablet" && strings.Contains(ua, "Android") && !strings.Contains(ua, "Mobile") {
				// Android tablets: no "Mobile" token; mileusna/useragent only knows "tablet"
				continue
			}
			if got != c.dev {
				t.Errorf("%s classified as %s: %q", c.dev, got, ua)
			}
		}
	}
	for _, k := range botKinds {
		if p := useragent.Parse(k.ua); !p.Bot {
			t.Logf("note: %s UA not flagged as bot by mileusna/useragent (ingest needs its own rule): %q", k.name, k.ua)
		}
	}
}

// depth returns the maximum object/array nesting depth of JSON b.
func depth(b []byte) int {
	d, maxd, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			maxd = max(maxd, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return maxd
}

func TestBadEventsAreBadAsLabelled(t *testing.T) {
	cfg := testConfig()
	cfg.BadShare = 1
	g := New(cfg)
	var ev Event
	count := map[BadKind]int{}
	for i := 0; i < 4000; i++ {
		g.Next(&ev)
		v := ev.Value
		count[ev.Bad]++
		parsed := func() map[string]any {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatalf("%s: should be valid JSON: %v\n%.300s", ev.Bad, err, v)
			}
			return m
		}
		ts := func(m map[string]any) time.Time {
			s, ok := m["timestamp"].(string)
			if !ok {
				t.Fatalf("%s: timestamp not a string", ev.Bad)
			}
			x, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		switch ev.Bad {
		case Valid:
			t.Fatal("valid event with BadShare 1")
		case BadTruncated:
			if json.Valid(v) || len(v) == 0 || v[0] != '{' {
				t.Fatalf("truncated event is valid JSON or empty: %q", v)
			}
		case BadNotJSON:
			if json.Valid(v) || len(v) == 0 || v[0] == '{' {
				t.Fatalf("not_json: %q", v)
			}
		case BadEmpty:
			if len(v) != 0 {
				t.Fatalf("empty event has %d bytes", len(v))
			}
		case BadWrongType:
			m := parsed()
			_, tsNum := m["timestamp"].(float64)
			_, propStr := m["properties"].(string)
			_, traitStr := m["traits"].(string)
			if !tsNum && !propStr && !traitStr {
				t.Fatalf("wrong_type without a wrong type: %.400s", v)
			}
		case BadMissingType:
			m := parsed()
			if _, ok := m["type"]; ok || m["messageId"] == nil || m["context"] == nil {
				t.Fatalf("missing_type: %.300s", v)
			}
		case BadMissingID:
			m := parsed()
			if m["anonymousId"] != nil || m["userId"] != nil || m["type"] == nil {
				t.Fatalf("missing_id still has an id: %.300s", v)
			}
		case BadInvalidUTF8:
			if utf8.Valid(v) {
				t.Fatalf("invalid_utf8 is valid UTF-8")
			}
			if !json.Valid([]byte(strings.ToValidUTF8(string(v), "?"))) {
				t.Fatalf("invalid_utf8 is broken beyond its encoding: %.300s", v)
			}
		case BadOversized:
			parsed()
			if len(v) <= OversizeLimit {
				t.Fatalf("oversized is only %d bytes", len(v))
			}
		case BadDeepNesting:
			parsed()
			if d := depth(v); d < DeepNestingMin || len(v) > OversizeLimit {
				t.Fatalf("deep_nesting depth %d size %d", d, len(v))
			}
		case BadTimestampPast:
			if d := ev.Time.Sub(ts(parsed())); d < SkewPastMin*time.Second {
				t.Fatalf("timestamp_past only %s early", d)
			}
		case BadTimestampFuture:
			if d := ts(parsed()).Sub(ev.Time); d < SkewFutureMin*time.Second {
				t.Fatalf("timestamp_future only %s late", d)
			}
		}
		if ev.Bad != BadTruncated && ev.Bad != BadNotJSON && ev.Bad != BadEmpty && ev.Bad != BadInvalidUTF8 && !utf8.Valid(v) {
			t.Fatalf("%s: unexpected invalid UTF-8", ev.Bad)
		}
	}
	for _, k := range BadKinds() {
		if count[k] < 4000/len(BadKinds())/2 {
			t.Errorf("bad kind %s only %d times", k, count[k])
		}
	}
	// Only selected kinds; default rate.
	cfg = testConfig()
	cfg.BadMix = map[BadKind]float64{BadEmpty: 1, BadMissingType: 1}
	g = New(cfg)
	bad := 0
	for i := 0; i < 50000; i++ {
		g.Next(&ev)
		if ev.Bad != Valid {
			bad++
			if ev.Bad != BadEmpty && ev.Bad != BadMissingType {
				t.Fatalf("kind %s not in BadMix", ev.Bad)
			}
		}
	}
	if share := float64(bad) / 50000; math.Abs(share-cfg.BadShare) > 0.003 {
		t.Errorf("bad share %.4f, want %.2f", share, cfg.BadShare)
	}
}

func TestMixAndBotShare(t *testing.T) {
	check := func(cfg Config, n int) {
		g := New(cfg)
		warm := g.seq // sessions in progress at Start were sampled length-biased; skip them
		var ev Event
		sessions := map[uint64]Archetype{}
		bots := 0
		for i := 0; i < n; i++ {
			g.Next(&ev)
			if ev.Bot {
				bots++
				continue
			}
			if ev.Session > warm {
				sessions[ev.Session] = ev.Archetype
			}
		}
		if share := float64(bots) / float64(n); math.Abs(share-cfg.BotShare) > 0.015 { // bot sessions are large chunks
			t.Errorf("bot share of events %.3f, want %.3f", share, cfg.BotShare)
		}
		cnt := map[Archetype]int{}
		for _, a := range sessions {
			cnt[a]++
		}
		tot := 0.0
		for _, w := range cfg.Mix {
			tot += w
		}
		for a, w := range cfg.Mix {
			want := w / tot
			if got := float64(cnt[a]) / float64(len(sessions)); math.Abs(got-want) > 0.02+0.1*want {
				t.Errorf("%s: %.3f of sessions, want %.3f", a, got, want)
			}
			if got := float64(len(g.slots[a])) / float64(g.cfg.Visitors); math.Abs(got-want) > 0.02+0.1*want {
				t.Errorf("%s: %.3f of visitors, want %.3f", a, got, want)
			}
		}
		for a := range cnt {
			if cfg.Mix[a] == 0 {
				t.Errorf("archetype %s has no weight but appears", a)
			}
		}
		t.Logf("%d sessions, bots %.3f, sessions per archetype %v", len(sessions), float64(bots)/float64(n), cnt)
	}
	cfg := testConfig()
	cfg.Diurnal = 0 // BotShare is a daily mean; bots do not follow the diurnal curve
	check(cfg, 150000)
	cfg.Mix = map[Archetype]float64{Researcher: 3, LoyalBuyer: 1}
	cfg.BotShare = 0.1
	check(cfg, 150000)
}

func TestRateAndClock(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	cfg := DefaultConfig()
	cfg.Start = now
	cfg.Diurnal = 0
	cfg.EventsPerSecond = 300
	cfg.Visitors = 40000
	g := New(cfg)
	var ev Event
	var first, last time.Time
	const n = 100000
	for i := 0; i < n; i++ {
		g.Next(&ev)
		if i == 0 {
			first = ev.Time
		}
		last = ev.Time
	}
	if first.Before(now) || first.Sub(now) > time.Second {
		t.Errorf("first event at %s, start %s", first, now)
	}
	rate := float64(n) / last.Sub(now).Seconds()
	if math.Abs(rate/cfg.EventsPerSecond-1) > 0.15 {
		t.Errorf("rate %.1f events/s, want %.0f", rate, cfg.EventsPerSecond)
	}
	t.Logf("rate %.1f events/s over %s", rate, last.Sub(now))

	// Compressed day: a 10-minute day with the full curve shows peak and trough.
	cfg = DefaultConfig()
	cfg.Start = time.Date(2025, 3, 14, 23, 0, 0, 0, time.UTC) // 00:00 local (UTC+1)
	cfg.DayLength = 10 * time.Minute
	cfg.EventsPerSecond = 100
	g = New(cfg)
	buckets := make([]int, 24)
	for {
		g.Next(&ev)
		d := ev.Time.Sub(cfg.Start)
		if d >= cfg.DayLength {
			break
		}
		buckets[int(d*24/cfg.DayLength)]++
	}
	night, evening := buckets[3]+buckets[4], buckets[20]+buckets[21]
	if evening < 5*night {
		t.Errorf("compressed day: evening %d vs night %d events; want a clear diurnal curve (%v)", evening, night, buckets)
	}
	total := 0
	for _, b := range buckets {
		total += b
	}
	if r := float64(total) / cfg.DayLength.Seconds(); math.Abs(r/cfg.EventsPerSecond-1) > 0.2 {
		t.Errorf("compressed day mean rate %.1f, want %.0f", r, cfg.EventsPerSecond)
	}
	t.Logf("compressed day per hour: %v", buckets)
}

// visitorStats are per-visitor counters of the kind the persona model keeps.
type visitorStats struct {
	arch                                   Archetype
	events, pages, sessions                int
	views, searches, adds, checkouts       int
	orders, deals, promos, lists, account  int
	campaignEv, mobileEv, desktopEv, appEv int
	signed                                 int
	cat                                    map[string]int
	catEv                                  int
	priceSum                               float64
	giftSearch                             int
	cpcSocial, email                       int
}

func collectStats(t testing.TB, cfg Config, n int) map[string]*visitorStats {
	g := New(cfg)
	warm := g.seq // sessions already in progress at Start are seen only in part
	var ev Event
	stats := map[string]*visitorStats{}
	lastSession := map[string]uint64{}
	for i := 0; i < n; i++ {
		g.Next(&ev)
		if ev.Bot || ev.Bad != Valid || ev.Session <= warm {
			continue
		}
		s := stats[ev.VisitorID]
		if s == nil {
			s = &visitorStats{arch: ev.Archetype, cat: map[string]int{}}
			stats[ev.VisitorID] = s
		}
		if lastSession[ev.VisitorID] != ev.Session {
			s.sessions++
			lastSession[ev.VisitorID] = ev.Session
		}
		var r struct {
			Context struct {
				Campaign *struct{ Medium string }
			}
			Properties json.RawMessage
		}
		if err := json.Unmarshal(ev.Value, &r); err != nil {
			t.Fatal(err)
		}
		s.events++
		if ev.SignedIn {
			s.signed++
		}
		if c := r.Context.Campaign; c != nil {
			s.campaignEv++
			if c.Medium == "cpc" || c.Medium == "social" {
				s.cpcSocial++
			}
			if c.Medium == "email" {
				s.email++
			}
		}
		if ev.App {
			s.appEv++
		}
		switch ev.Device {
		case Mobile:
			s.mobileEv++
		case Desktop:
			s.desktopEv++
		}
		if ev.Category != "" {
			s.cat[ev.Category]++
			s.catEv++
		}
		switch ev.Type {
		case TypePage, TypeScreen:
			s.pages++
			switch ev.Name {
			case PageDeals:
				s.deals++
			case PageAccount:
				s.account++
			}
		case TypeTrack:
			var p struct {
				Price float64 `json:"price"`
				Query string  `json:"query"`
			}
			_ = json.Unmarshal(r.Properties, &p)
			switch ev.Name {
			case EventProductViewed:
				s.views++
				s.priceSum += p.Price
			case EventProductsSearched:
				s.searches++
				if strings.Contains(p.Query, "gift") || strings.Contains(p.Query, "cadeau") || strings.Contains(p.Query, "present") {
					s.giftSearch++
				}
			case EventProductAdded:
				s.adds++
			case EventCheckoutStarted:
				s.checkouts++
			case EventOrderCompleted:
				s.orders++
			case EventPromotionClicked:
				s.promos++
			case EventProductListViewed:
				s.lists++
			}
		}
	}
	for _, e := range g.heap { // sessions still running at the end are seen only in part
		delete(stats, e.s.v.id)
	}
	return stats
}

var (
	statsOnce sync.Once
	statsVal  map[string]*visitorStats
)

// sharedStats are per-visitor counters over ~2 h of traffic (80 000 events at 10
// events/s, so long sessions complete), shared by the archetype tests.
func sharedStats(t testing.TB) map[string]*visitorStats {
	statsOnce.Do(func() {
		cfg := testConfig()
		cfg.BadShare = 0
		cfg.EventsPerSecond = 10
		cfg.Visitors = 8000
		statsVal = collectStats(t, cfg, 80000)
	})
	return statsVal
}

type archRow struct {
	visitors                                                              int
	evPerSess, pagesPerSess, mobile, desktop, app, signed, campaign       float64
	cpcSocial, email, views, searches, addsPerView, checkouts, orders     float64
	deals, promos, avgPrice, top2, giftSearch, orderVisitors, searchShare float64
	topCats                                                               string
}

func summarise(stats map[string]*visitorStats) map[Archetype]*archRow {
	rows := map[Archetype]*archRow{}
	type acc struct {
		n                                  int
		ev, pg, sess, mob, desk, app, sg   float64
		camp, cs, em, vw, sr, ad, co, or   float64
		dl, pr, price, prN, gift, orderVis float64
		cats                               map[string]float64
		catEv                              float64
	}
	accs := map[Archetype]*acc{}
	for _, s := range stats {
		a := accs[s.arch]
		if a == nil {
			a = &acc{cats: map[string]float64{}}
			accs[s.arch] = a
		}
		a.n++
		a.ev += float64(s.events)
		a.pg += float64(s.pages)
		a.sess += float64(s.sessions)
		a.mob += float64(s.mobileEv)
		a.desk += float64(s.desktopEv)
		a.app += float64(s.appEv)
		a.sg += float64(s.signed)
		a.camp += float64(s.campaignEv)
		a.cs += float64(s.cpcSocial)
		a.em += float64(s.email)
		a.vw += float64(s.views)
		a.sr += float64(s.searches)
		a.ad += float64(s.adds)
		a.co += float64(s.checkouts)
		a.or += float64(s.orders)
		a.dl += float64(s.deals)
		a.pr += float64(s.promos)
		a.price += s.priceSum
		a.prN += float64(s.views)
		a.gift += float64(s.giftSearch)
		if s.orders > 0 {
			a.orderVis++
		}
		for c, k := range s.cat {
			a.cats[c] += float64(k)
		}
		a.catEv += float64(s.catEv)
	}
	for arch, a := range accs {
		type kv struct {
			c string
			v float64
		}
		var cs []kv
		for c, v := range a.cats {
			cs = append(cs, kv{c, v / a.catEv})
		}
		slices.SortFunc(cs, func(x, y kv) int {
			if x.v != y.v {
				if x.v > y.v {
					return -1
				}
				return 1
			}
			return strings.Compare(x.c, y.c)
		})
		top := ""
		top2 := 0.0
		for i := 0; i < 2 && i < len(cs); i++ {
			top += fmt.Sprintf("%s %.0f%% ", cs[i].c, 100*cs[i].v)
			top2 += cs[i].v
		}
		rows[arch] = &archRow{
			visitors: a.n, evPerSess: a.ev / a.sess, pagesPerSess: a.pg / a.sess,
			mobile: a.mob / a.ev, desktop: a.desk / a.ev, app: a.app / a.ev, signed: a.sg / a.ev,
			campaign: a.camp / a.ev, cpcSocial: a.cs / a.ev, email: a.em / a.ev,
			views: a.vw / a.ev, searches: a.sr / a.ev, searchShare: a.sr / a.ev, addsPerView: a.ad / math.Max(a.vw, 1),
			checkouts: a.co / a.sess, orders: a.or / a.sess, deals: a.dl / math.Max(a.pg, 1), promos: a.pr / a.ev,
			avgPrice: a.price / math.Max(a.prN, 1), top2: top2, giftSearch: a.gift / math.Max(a.sr, 1),
			orderVisitors: a.orderVis / float64(a.n), topCats: top,
		}
	}
	return rows
}

// TestArchetypesAreRecognisable checks the per-visitor counters that tell the
// archetypes apart (the table in README.md comes from its -v output).
func TestArchetypesAreRecognisable(t *testing.T) {
	rows := summarise(sharedStats(t))
	t.Logf("%-22s %5s %6s %6s %5s %5s %5s %5s %5s %5s %5s %5s %5s %6s %6s %6s %5s %5s %6s %5s  %s",
		"archetype", "vis", "ev/s", "pg/s", "mob", "desk", "app", "sign", "camp", "c/s", "mail", "view", "srch", "add/v", "chk/s", "ord/s", "deal", "promo", "price", "gift", "top categories")
	for _, a := range HumanArchetypes() {
		r := rows[a]
		if r == nil {
			t.Fatalf("no visitors of %s", a)
		}
		t.Logf("%-22s %5d %6.1f %6.1f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %6.3f %6.3f %6.3f %5.2f %5.3f %6.1f %5.2f  %s",
			a, r.visitors, r.evPerSess, r.pagesPerSess, r.mobile, r.desktop, r.app, r.signed, r.campaign, r.cpcSocial, r.email,
			r.views, r.searches, r.addsPerView, r.checkouts, r.orders, r.deals, r.promos, r.avgPrice, r.giftSearch, r.topCats)
	}
	expect := func(a Archetype, what string, ok bool) {
		if !ok {
			t.Errorf("%s: expected %s", a, what)
		}
	}
	mb, rs, lb, ca, cc := rows[MobileBargainHunter], rows[Researcher], rows[LoyalBuyer], rows[CartAbandoner], rows[CampaignClicker]
	cb, te, ff, hi, gs := rows[CasualBrowser], rows[TechEnthusiast], rows[FashionFollower], rows[HomeImprover], rows[GiftShopper]
	expect(MobileBargainHunter, "mostly mobile", mb.mobile > 0.8)
	expect(MobileBargainHunter, "deals pages > 25% of pages", mb.deals > 0.25)
	expect(MobileBargainHunter, "cpc/social campaign", mb.cpcSocial > 0.5)
	expect(MobileBargainHunter, "cheap product views", mb.avgPrice < 0.5*rows[CasualBrowser].avgPrice)
	expect(MobileBargainHunter, "most promotion clicks", mb.promos > 2*cb.promos && mb.promos > lb.promos)
	expect(Researcher, "desktop", rs.desktop > 0.85)
	expect(Researcher, "long sessions", rs.evPerSess > 2*cb.evPerSess && rs.evPerSess > mb.evPerSess)
	expect(Researcher, "many searches", rs.searches > 0.15)
	expect(Researcher, "few adds per view", rs.addsPerView < 0.05)
	expect(LoyalBuyer, "always signed in", lb.signed > 0.99)
	expect(LoyalBuyer, "orders", lb.orders > 0.3 && lb.orderVisitors > 0.5)
	expect(CartAbandoner, "adds to cart", ca.addsPerView > 0.3)
	expect(CartAbandoner, "starts checkout", ca.checkouts > 0.1)
	expect(CartAbandoner, "never orders", ca.orders == 0)
	expect(CampaignClicker, "always via campaign", cc.campaign > 0.99)
	expect(CampaignClicker, "1-3 pages per session", cc.pagesPerSess <= 3.2)
	expect(CampaignClicker, "no cart adds", cc.addsPerView == 0)
	expect(CasualBrowser, "short sessions", cb.pagesPerSess < 7)
	expect(CasualBrowser, "rarely via campaign", cb.campaign < 0.1)
	expect(TechEnthusiast, "electronics-heavy", strings.HasPrefix(te.topCats, "electronics") && te.top2 > 0.7)
	expect(FashionFollower, "fashion/beauty-heavy", (strings.HasPrefix(ff.topCats, "fashion") || strings.HasPrefix(ff.topCats, "beauty")) && strings.Contains(ff.topCats, "beauty") && ff.top2 > 0.7)
	expect(HomeImprover, "home/garden-heavy", strings.Contains(hi.topCats, "home") && strings.Contains(hi.topCats, "garden") && hi.top2 > 0.7)
	expect(GiftShopper, "toys/books-heavy", strings.Contains(gs.topCats, "toys") && strings.Contains(gs.topCats, "books") && gs.top2 > 0.6)
	expect(GiftShopper, "gift searches", gs.giftSearch > 0.4)
	expect(TechEnthusiast, "premium prices", te.avgPrice > cb.avgPrice)
}

func TestCanaryMode(t *testing.T) {
	cfg := testConfig()
	cfg.Canaries = true
	cfg.Visitors = 2000
	cfg.EventsPerSecond = 20
	cfg.BadShare = 0.02
	g := New(cfg)
	var ev Event
	var events [][]byte
	var valid []Event
	for i := 0; i < 6000; i++ {
		g.Next(&ev)
		events = append(events, bytes.Clone(ev.Value))
		if ev.Bad == Valid {
			valid = append(valid, Event{Value: events[len(events)-1], Bot: ev.Bot, Type: ev.Type, Name: ev.Name})
		}
	}
	details := g.CanaryDetails()
	m := NewCanaryMatcher(g.Canaries())
	isCanary := map[string]bool{}
	for _, c := range details {
		isCanary[c.Value] = true
		switch c.Kind {
		case "iban":
			if !validIBAN(c.Value) {
				t.Errorf("canary IBAN %s fails mod 97", c.Value)
			}
		case "card":
			if !validLuhn(c.Value) {
				t.Errorf("canary card %s fails Luhn", c.Value)
			}
		case "bsn":
			if !validBSN(c.Value) {
				t.Errorf("canary BSN %s fails 11-check", c.Value)
			}
		}
	}
	fieldHit := map[string]int{}
	customEvents := 0
	for _, e := range valid {
		if k := duplicateKey(e.Value); k != "" {
			t.Fatalf("duplicate key %q: %s", k, e.Value)
		}
		r, _ := decode(t, e.Value)
		if !isCanary[*r.AnonymousID] {
			t.Fatalf("anonymousId %s is not a canary", *r.AnonymousID)
		}
		if !isCanary[r.Context.IP] {
			t.Fatalf("ip %s is not a canary", r.Context.IP)
		}
		if e.Bot {
			continue
		}
		check := func(field, s string) {
			if len(m.Find([]byte(s))) == 0 {
				t.Fatalf("%s has no canary: %q\n%s", field, s, e.Value)
			}
			fieldHit[field]++
		}
		if r.UserID != nil {
			if !isCanary[*r.UserID] {
				t.Fatalf("userId %s is not a canary", *r.UserID)
			}
			fieldHit["userId"]++
		}
		check("context.userAgent", r.Context.UserAgent)
		check("context.campaign.term", r.Context.Campaign.Term)
		check("context.campaign.content", r.Context.Campaign.Content)
		if p := r.Context.Page; p != nil {
			check("context.page.url", p.URL)
			check("context.page.path", p.Path)
			check("context.page.search", p.Search)
			check("context.page.title", p.Title)
			if p.Referrer != "" {
				check("context.page.referrer", p.Referrer)
			}
			u := p.URL
			if i := strings.IndexByte(u, '#'); i < 0 || len(m.Find([]byte(u[i:]))) == 0 {
				t.Fatalf("no canary in URL fragment: %s", u)
			}
		}
		if d := r.Context.Device; d != nil {
			check("context.device.id", d.ID)
			check("context.device.advertisingId", d.AdvertisingID)
		}
		if r.Context.Traits != nil {
			check("context.traits.email", r.Context.Traits["email"].(string))
		}
		if e.Type == TypeIdentify {
			check("traits", string(r.Traits))
		} else {
			check("properties", string(r.Properties))
			for _, k := range []string{`"customer":{"contact":`, `"note":`, `"cookie":`, `\u0040example.org`, `"ref_b64":`, `"email_upper":`} {
				if !bytes.Contains(r.Properties, []byte(k)) {
					t.Fatalf("properties lack %s", k)
				}
			}
		}
		if e.Type == TypeTrack && strings.HasPrefix(r.Event, "Wishlist Shared With ") {
			check("event", r.Event)
			customEvents++
		}
		if (e.Type == TypePage || e.Type == TypeScreen) && strings.HasPrefix(r.Name, "Landing") {
			check("name", r.Name)
		}
		if e.Name == EventProductsSearched {
			var p struct{ Query string }
			_ = json.Unmarshal(r.Properties, &p)
			check("properties.query", p.Query)
		}
	}
	for _, f := range []string{"userId", "context.page.referrer", "context.device.id", "context.traits.email", "traits", "event", "name", "properties.query"} {
		if fieldHit[f] == 0 {
			t.Errorf("no canary seen in %s", f)
		}
	}
	// Every output event (also the bad ones, except empty) carries canaries.
	for _, e := range events {
		if len(e) > 8 && !m.Contains(e) && json.Valid(e) {
			t.Fatalf("event without canary: %.300s", e)
		}
	}
	kinds := map[string]bool{}
	for _, c := range details {
		kinds[c.Kind] = true
	}
	for _, k := range []string{"email", "name", "phone", "uuid", "ipv4", "ipv6", "iban", "card", "bsn", "postcode", "user_id", "order", "token", "click_id", "cookie", "jwt"} {
		if !kinds[k] {
			t.Errorf("no canary of kind %s", k)
		}
	}
	t.Logf("%d canaries (%d search strings), fields hit %v", len(details), len(g.Canaries()), fieldHit)
}

func TestCanaryRaw(t *testing.T) {
	now := time.Now()
	samples, canaries := CanaryRaw(now)
	s2, c2 := CanaryRaw(now)
	if len(s2) != len(samples) || len(c2) != len(canaries) || c2[0].Value != canaries[0].Value {
		t.Fatal("CanaryRaw is not stable")
	}
	m := NewCanaryMatcher(CanaryStrings(canaries))
	all := bytes.Buffer{}
	for _, s := range samples {
		all.Write(s.Value)
		all.WriteByte('\n')
		if !m.Contains(s.Value) {
			t.Errorf("%s: no canary", s.Name)
		}
		if bytes.Contains(s.Value, []byte("{{")) {
			t.Errorf("%s: unreplaced placeholder: %s", s.Name, s.Value)
		}
		switch s.Bad {
		case Valid:
			if k := duplicateKey(s.Value); k != "" {
				t.Errorf("%s: duplicate key %q", s.Name, k)
			}
			r, _ := decode(t, s.Value)
			if r.Type == nil || r.MessageID == "" || (r.AnonymousID == nil && r.UserID == nil) {
				t.Errorf("%s: missing required fields", s.Name)
			}
			var ts string
			_ = json.Unmarshal(r.Timestamp, &ts)
			if pt, err := time.Parse(time.RFC3339Nano, ts); err != nil || now.Sub(pt) > 2*time.Minute || pt.After(now) {
				t.Errorf("%s: timestamp %q not in the minute before now", s.Name, ts)
			}
			if !utf8.Valid(s.Value) {
				t.Errorf("%s: invalid UTF-8", s.Name)
			}
		case BadTruncated, BadNotJSON:
			if json.Valid(s.Value) {
				t.Errorf("%s: valid JSON", s.Name)
			}
		case BadInvalidUTF8:
			if utf8.Valid(s.Value) {
				t.Errorf("%s: valid UTF-8", s.Name)
			}
		}
	}
	low := bytes.ToLower(all.Bytes())
	for _, c := range canaries {
		found := false
		for _, s := range c.Strings() {
			if bytes.Contains(low, bytes.ToLower([]byte(s))) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("canary %s %q planted nowhere", c.Kind, c.Value)
		}
		switch c.Kind {
		case "iban":
			if !validIBAN(c.Value) {
				t.Errorf("IBAN %s invalid", c.Value)
			}
		case "card":
			if !validLuhn(c.Value) {
				t.Errorf("card %s fails Luhn", c.Value)
			}
		case "bsn":
			if !validBSN(c.Value) {
				t.Errorf("BSN %s fails 11-check", c.Value)
			}
		}
	}
	// Decoding the JSON reveals the escaped canaries in their plain form.
	var nl struct {
		Properties struct{ Email, Name string }
	}
	for _, s := range samples {
		if strings.Contains(s.Name, "fully") {
			if err := json.Unmarshal(s.Value, &nl); err != nil {
				t.Fatal(err)
			}
			if len(m.Find([]byte(nl.Properties.Email))) == 0 || len(m.Find([]byte(nl.Properties.Name))) == 0 {
				t.Errorf("escaped canaries do not decode to canaries: %+v", nl)
			}
		}
	}
	t.Logf("%d samples, %d canaries, %d search strings", len(samples), len(canaries), len(CanaryStrings(canaries)))
}

func TestCanaryMatcher(t *testing.T) {
	m := NewCanaryMatcher([]string{"canary-1-abc@example.org", "Zyxwqabcde", "NL91ABNA0417164300", "abc"})
	got := m.Find([]byte(`{"a":"x CANARY-1-ABC@EXAMPLE.ORG y","b":"zyxwqABCDE","c":"NL91ABNA041716430"}`))
	if !slices.Equal(got, []string{"canary-1-abc@example.org", "Zyxwqabcde"}) {
		t.Fatalf("found %v", got)
	}
	if m.Contains([]byte("nothing here abc")) {
		t.Fatal("false positive")
	}
}

func TestChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 1000; i++ {
		if s := makeIBAN(r, "NL", "ABNA", 10); !validIBAN(s) || len(s) != 18 {
			t.Fatalf("IBAN %s", s)
		}
		if s := makeCard(r); !validLuhn(s) || len(s) != 16 {
			t.Fatalf("card %s", s)
		}
		if s := makeBSN(r); !validBSN(s) {
			t.Fatalf("BSN %s", s)
		}
	}
	if !validIBAN("NL91ABNA0417164300") || validIBAN("NL92ABNA0417164300") {
		t.Fatal("IBAN check itself is wrong")
	}
	if !validLuhn("4111111111111111") || validLuhn("4111111111111112") {
		t.Fatal("Luhn check itself is wrong")
	}
	if !validBSN("111222333") || validBSN("111222334") {
		t.Fatal("BSN check itself is wrong")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.BotShare = 1.5
	bad.Mix = map[Archetype]float64{Bot: 1}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "bot share") || !strings.Contains(err.Error(), "not a human archetype") {
		t.Fatalf("Validate: %v", err)
	}
	for _, a := range HumanArchetypes() {
		if b, _ := ParseArchetype(a.String()); b != a {
			t.Fatalf("round trip %s", a)
		}
	}
	for _, k := range BadKinds() {
		if b, _ := ParseBadKind(k.String()); b != k {
			t.Fatalf("round trip %s", k)
		}
	}
}

func TestAppendString(t *testing.T) {
	if duplicateKey([]byte(`{"a":1,"b":{"a":2},"a":3}`)) != "a" || duplicateKey([]byte(`{"a":{"b":1},"c":[{"b":1},{"b":2}],"d":2}`)) != "" {
		t.Fatal("duplicateKey helper is wrong")
	}
	for _, s := range []string{"", "plain", `quote " and \ back`, "ctl \x01\n\t\r", "ünïcødé “quotes” – 😀", "\u2028"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("%q -> %s -> %q (%v)", s, b, got, err)
		}
	}
}

func TestTimeFormatting(t *testing.T) {
	var c minuteCache
	for _, ns := range []int64{0, 1, 59_999_000_000, 60_000_000_000, testStart.UnixNano() + 123_456_789, testStart.UnixNano() + 59_999_999_999, 4102444799_999_000_000} {
		want := time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(appendTime(nil, ns)); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", ns, got, want)
		}
		if got := string(c.append(nil, ns)); got != want {
			t.Errorf("minuteCache(%d) = %s, want %s", ns, got, want)
		}
	}
	for i := 0; i < 10000; i++ {
		w := uint64(i) * 0x9e3779b97f4a7c15
		want := false
		for k := 0; k < 8; k++ {
			c := byte(w >> (8 * k))
			want = want || c < 0x20 || c == '"' || c == '\\'
		}
		if needsEscape(w) != want {
			t.Fatalf("needsEscape(%x) = %v", w, !want)
		}
	}
}

// referenceRule classifies a visitor from counters the persona model can keep (all
// derivable from the payload). It documents that the archetypes are recognisable;
// the real rules live in the persona model.
func referenceRule(s *visitorStats) Archetype {
	ev := float64(s.events)
	share := func(cats ...string) float64 {
		if s.catEv == 0 {
			return 0
		}
		n := 0
		for _, c := range cats {
			n += s.cat[c]
		}
		return float64(n) / float64(s.catEv)
	}
	pagesPerSession := float64(s.pages) / float64(max(s.sessions, 1))
	avgPrice := s.priceSum / float64(max(s.views, 1))
	focus := s.catEv >= 4 && (share("electronics") >= 0.6 || share("fashion", "beauty") >= 0.65 || share("home", "garden") >= 0.65)
	switch {
	case float64(s.campaignEv) >= 0.9*ev && pagesPerSession <= 3 && s.adds == 0:
		return CampaignClicker
	case float64(s.signed) >= 0.9*ev && (s.orders > 0 || s.account > 0) && !focus:
		return LoyalBuyer
	case s.adds >= 1 && float64(s.adds) >= 0.3*float64(s.views) && s.orders == 0 && !focus:
		return CartAbandoner
	case float64(s.mobileEv) >= 0.5*ev && (s.views >= 2 && avgPrice < 30 || s.pages >= 3 && float64(s.deals) >= 0.3*float64(s.pages)):
		return MobileBargainHunter
	case s.catEv >= 4 && share("electronics") >= 0.6:
		return TechEnthusiast
	case s.catEv >= 4 && share("fashion", "beauty") >= 0.65:
		return FashionFollower
	case s.catEv >= 4 && share("home", "garden") >= 0.65:
		return HomeImprover
	case s.giftSearch > 0 || s.catEv >= 6 && share("toys", "books") >= 0.65:
		return GiftShopper
	case float64(s.desktopEv) >= 0.5*ev && s.searches >= 2 && s.views >= 4 && float64(s.adds) < 0.05*float64(s.views)+1:
		return Researcher
	default:
		return CasualBrowser
	}
}

func TestReferenceRules(t *testing.T) {
	stats := sharedStats(t)
	type cell struct{ n, ok int }
	per := map[Archetype]*cell{}
	confused := map[[2]Archetype]int{}
	for _, s := range stats {
		if s.events < 3 {
			continue // too little evidence for anyone
		}
		c := per[s.arch]
		if c == nil {
			c = &cell{}
			per[s.arch] = c
		}
		c.n++
		got := referenceRule(s)
		if got == s.arch {
			c.ok++
		} else {
			confused[[2]Archetype{s.arch, got}]++
		}
	}
	tot, ok := 0, 0
	for _, a := range HumanArchetypes() {
		c := per[a]
		tot += c.n
		ok += c.ok
		worst, wn := ArchetypeNone, 0
		for k, n := range confused {
			if k[0] == a && n > wn {
				worst, wn = k[1], n
			}
		}
		t.Logf("%-22s visitors %5d recognised %5.1f%%  (most often taken for %s: %d)", a, c.n, 100*float64(c.ok)/float64(c.n), worst, wn)
	}
	acc := float64(ok) / float64(tot)
	t.Logf("overall %.1f%% of %d visitors with >= 3 events", 100*acc, tot)
	if acc < 0.72 {
		t.Errorf("reference rules recognise only %.1f%% of visitors", 100*acc)
	}
}
