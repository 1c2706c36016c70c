package model

import (
	"strings"
	"testing"

	"github.com/personas-dev/personas/schemas"
)

// classifyAll runs events through a fresh visitor and returns the persona
// name after each event.
func classifyAll(t testing.TB, m *Model, evs []*schemas.Event) ([]string, *Visitor) {
	t.Helper()
	e := m.NewEvaluator()
	v := &Visitor{}
	out := make([]string, len(evs))
	for i, ev := range evs {
		e.Observe(v, ev)
		out[i] = m.Personas[e.Classify(v)].Name
	}
	return out, v
}

func TestDefaultPersonas(t *testing.T) {
	cases := []struct {
		want string
		s    *session
	}{
		{"loyal_buyer", newSession("desktop").home().page("Account", "/account/orders").
			view("electronics", 89).cartAdd("electronics", 89).cart().checkout().order(89)},
		{"loyal_buyer", newSession("mobile").page("Account", "/account").page("Account", "/account/orders").
			home().view("home", 25)}, // a known customer checking their orders
		{"cart_abandoner", newSession("desktop").home().view("fashion", 40).cartAdd("fashion", 40).
			view("fashion", 60).cartAdd("fashion", 60).cart()},
		{"cart_abandoner", newSession("mobile").view("garden", 30).cartAdd("garden", 30).cart().checkout()},
		{"cart_abandoner", newSession("mobile").view("sports", 30).cartAdd("sports", 30).wait(45).home()},
		{"gift_shopper", newSession("desktop").home().search("gift for dad").view("toys", 30).view("books", 15)},
		{"gift_shopper", newSession("tablet").list("toys").view("toys", 20).view("toys", 35).view("books", 12).view("home", 20)},
		{"tech_enthusiast", newSession("desktop").home().list("electronics").view("electronics", 399).
			view("electronics", 129).view("fashion", 30).view("electronics", 59)},
		{"fashion_follower", newSession("mobile").list("fashion").view("fashion", 49).view("beauty", 19).view("fashion", 89)},
		{"home_improver", newSession("tablet").view("home", 120).view("garden", 45).view("home", 30).view("garden", 15)},
		{"campaign_clicker", newSession("mobile").campaign("instagram", "social", "new-arrivals").deals().view("fashion", 20)},
		{"campaign_clicker", newSession("desktop").campaign("newsletter", "email", "summer-sale").page("Deals", "/deals/summer-sale")},
		{"mobile_bargain_hunter", newSession("mobile").deals().promo().deals().view("sports", 9.99).deals().view("books", 4.99)},
		{"mobile_bargain_hunter", newSession("tablet").campaign("tiktok", "social", "black-friday").deals().
			view("toys", 9.99).deals().view("home", 19.99).promo().deals().view("beauty", 5)},
		{"researcher", newSession("desktop").search("4k monitor").view("electronics", 300).view("home", 200).
			search("office chair").view("home", 250).view("home", 180).view("fashion", 20).search("desk lamp").
			view("home", 40).view("sports", 60).view("books", 20)},
		{"casual_browser", newSession("desktop").home().page("Blog", "/blog/:seg").page("Help", "/help/returns")},
		{"casual_browser", newSession("mobile").home().view("grocery", 5)},
	}
	m := Default()
	seen := map[string]bool{}
	for _, c := range cases {
		names, _ := classifyAll(t, m, c.s.evs)
		if got := names[len(names)-1]; got != c.want {
			t.Errorf("want %s, got %s; path %s", c.want, got, strings.Join(names, " → "))
		}
		seen[c.want] = true
	}
	for _, p := range m.PersonaNames() {
		if !seen[p] {
			t.Errorf("no test sequence for persona %s", p)
		}
	}
}

// flowsOf returns the persona changes of a sequence as "from→to".
func flowsOf(t *testing.T, m *Model, evs []*schemas.Event) []string {
	e := m.NewEvaluator()
	var v Visitor
	var flows []string
	for _, ev := range evs {
		from, to := e.Apply(&v, ev)
		if from >= 0 && from != to {
			flows = append(flows, m.Personas[from].Name+"→"+m.Personas[to].Name)
		}
	}
	return flows
}

func TestFlows(t *testing.T) {
	m := Default()
	// A browser who turns into a tech enthusiast, fills the cart, and buys.
	s := newSession("desktop").home().list("electronics").view("electronics", 299).view("electronics", 99).
		view("electronics", 49).cartAdd("electronics", 49).view("electronics", 79).cartAdd("electronics", 79).
		cart().checkout().order(128)
	got := strings.Join(flowsOf(t, m, s.evs), ", ")
	want := "casual_browser→tech_enthusiast, tech_enthusiast→cart_abandoner, cart_abandoner→loyal_buyer"
	if got != want {
		t.Fatalf("flows\n got %s\nwant %s", got, want)
	}

	// A campaign visit that turns into a bargain hunt.
	s = newSession("mobile").campaign("facebook", "social", "black-friday").deals().view("toys", 9).
		deals().promo().deals().view("sports", 7).deals()
	got = strings.Join(flowsOf(t, m, s.evs), ", ")
	if got != "campaign_clicker→mobile_bargain_hunter" {
		t.Fatalf("flows %s", got)
	}

	// Apply reports from = -1 for a new visitor: entering is not a flow.
	e := m.NewEvaluator()
	var v Visitor
	if from, _ := e.Apply(&v, s.evs[0]); from != -1 {
		t.Fatalf("first from %d", from)
	}
	if from, to := e.Apply(&v, s.evs[1]); from != to || from < 0 {
		t.Fatalf("second %d→%d", from, to)
	}
}

func TestBuiltins(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	s := newSession("mobile").campaign("google", "cpc", "summer-sale").home().view("electronics", 10)
	s.camp = nil
	s.device = "desktop"
	s.wait(40).view("electronics", 20).list("fashion")
	s.add("track", "Products Searched") // no device: does not count for mobile_share
	s.evs[len(s.evs)-1].Device = nil
	s.add("page", "Home", withCampaign("newsletter", "email", "x")) // not first touch
	for _, ev := range s.evs {
		e.Observe(&v, ev)
	}
	env := m.Env(&v)
	first := int(t0.Unix() / 60)
	want := map[string]any{
		"events": 9, "sessions": 2, "first_seen": first, "last_seen": first + 48, "minutes_active": 48,
		"hour": 8, "weekday": 6, "device": "desktop", "mobile_share": 3.0 / 8,
		"campaign_source": "google", "campaign_medium": "cpc",
		"catalog_views": 3, "top_category": "electronics", "distinct_categories": 2,
		"product_views": 2, "page_views": 5, "list_views": 1, "searches": 1, "campaign_events": 4,
		"minutes_since_last_cart_adds": Never,
	}
	for k, w := range want {
		if env[k] != w {
			t.Errorf("%s = %v, want %v", k, env[k], w)
		}
	}
	if cv := env["category_views"].(map[string]int); cv["electronics"] != 2 || cv["fashion"] != 1 || cv["toys"] != 0 {
		t.Errorf("category_views %v", cv)
	}
	if sh := m.share(&v, m.categoryIndex("electronics")); sh != 2.0/3 {
		t.Errorf("share %v", sh)
	}
	if v.Events() != 9 || v.Persona() != -1 {
		t.Errorf("events %d persona %d", v.Events(), v.Persona())
	}
}

// TestConcurrentEvaluators: one shared model, an evaluator per goroutine
// (run with -race).
func TestConcurrentEvaluators(t *testing.T) {
	m := Default()
	want, _ := classifyAll(t, m, benchEvents())
	done := make(chan []string)
	for range 4 {
		go func() {
			e := m.NewEvaluator()
			var v Visitor
			var got []string
			for _, ev := range benchEvents() {
				e.Observe(&v, ev)
				got = append(got, m.Personas[e.Classify(&v)].Name)
			}
			done <- got
		}()
	}
	for range 4 {
		if got := <-done; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("goroutine got %v, want %v", got, want)
		}
	}
}
