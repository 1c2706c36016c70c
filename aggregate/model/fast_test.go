package model

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Rules that exercise the fast subset (and a few outside it, which run on
// the VM either way).
var visitorRules = []string{
	`events > 3 and not (sessions < 2)`,
	`mobile_share * 2 > 0.5 || -events < -10`,
	`product_views / (events + 1) >= 0.1`,
	`share("electronics") + share("toys") > 0.3`,
	`views("fashion") - 1 >= 0`,
	`category_views["home"] >= 1`,
	`top_category in ["electronics", "fashion"]`,
	`top_category not in ["electronics"]`,
	`device == "mobile" ? events > 2 : events > 5`,
	`campaign_source startsWith "goo" || campaign_medium endsWith "ail" || campaign_source contains "ws"`,
	`minutes_active >= 30 && hour < 12`,
	`weekday in [0, 6]`,
	`first_seen < last_seen`,
	`minutes_since_last_cart_adds < 10`,
	`events_since_last_product_views <= 2`,
	`distinct_categories * 1.5 >= 3`,
	`events == 5.0`,
	`product_views + 0.5 > 2`,
	`(product_views > 2) == (searches > 1)`,
	`top_category == campaign_source`,
	`top_category != device`,
	`share(top_category) > 0.5`,
	`views(device) == 0 && views(top_category) >= 2`,
	`(if events > 5 { share("books") } else { 0.0 }) > 0.1`,
	`-mobile_share < -0.5`,
	`+events > 1`,
	`catalog_views - product_views * 2 <= -1`,
	`mobile_share >= 0.5 != (device == "mobile")`,
	`campaign_source < "m" && campaign_source >= "a"`,
	`events * 3 == catalog_views + 3 || orders * 1.0 >= 1`,
	`true && events >= 3`,
	`false || share("grocery") == 0`,
	// Outside the subset: the VM.
	`catalog_views % 2 == 0`,
	`events ** 2 > 10`,
	`len(top_category) > 4`,
	`max(events, catalog_views) > 10`,
}

var eventRules = []string{
	`type == "page" && path startsWith "/c/"`,
	`category in ["toys", "books"] || price > 100`,
	`value >= 50`,
	`hour >= 18 || weekday == 0`,
	`search contains "gift"`,
	`utm_source == "google" || campaign_source == "google"`,
	`device != "desktop" and browser == ""`,
	`bot == false`,
	`!bot && language == ""`,
	`referrer_domain endsWith "google.com" || campaign_name == "summer-sale"`,
	`event in ["Product Viewed", "Product Added"] && category != ""`,
	`event == "Order Completed" || event == "Checkout Started"`,
	`os == "" && campaign_medium in ["email", "cpc"]`,
	`utm_medium == "" && utm_campaign == "" && utm_term == "" && utm_content == ""`,
	// Outside the subset: the VM.
	`properties.category == "toys"`,
	`(query.utm_term ?? "") != ""`,
	`len(path) > 3`,
}

func differentialModel(t *testing.T) *Model {
	var b strings.Builder
	b.WriteString("version: diff\ncategories: [electronics, fashion, home, garden, toys, books, sports, beauty, grocery]\nfeatures:\n")
	b.WriteString("  - name: product_views\n    when: event == \"Product Viewed\"\n")
	b.WriteString("  - name: cart_adds\n    when: event == \"Product Added\"\n")
	b.WriteString("  - name: searches\n    when: event == \"Products Searched\"\n")
	b.WriteString("  - name: orders\n    when: event == \"Order Completed\"\n")
	for i, r := range eventRules {
		fmt.Fprintf(&b, "  - name: f%d\n    when: %q\n", i, r)
	}
	b.WriteString("personas:\n")
	for i, r := range visitorRules {
		fmt.Fprintf(&b, "  - name: p%d\n    when: %q\n", i, r)
	}
	b.WriteString("  - name: rest\ndefault: rest\n")
	m, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFastMatchesVM runs every condition on the closure fast path and on
// the expr VM over many events and visitor states: they must agree.
func TestFastMatchesVM(t *testing.T) {
	for _, m := range []*Model{Default(), differentialModel(t)} {
		e := m.NewEvaluator()
		ref := m.NewEvaluator()
		r := rand.New(rand.NewPCG(11, 12))
		checked := 0
		trues := map[string]int{}
		falses := map[string]int{}
		for range 300 {
			var v Visitor
			for _, ev := range randomEvents(r, 1+r.IntN(80)) {
				if r.IntN(4) == 0 {
					ev.Query = map[string]string{"utm_source": "google", "utm_term": "x"}
					ev.ReferrerDomain = "google.com"
				}
				ev.Bot = r.IntN(5) == 0
				if r.IntN(2) == 0 {
					ev.Language = "nl"
				}
				e.Observe(&v, ev)
				for i := range m.features {
					c := &m.features[i]
					if c.fast == nil {
						continue
					}
					ref.ev = e.ev
					ref.ev.done = 0
					ref.ev.computeAll()
					got, want := c.fast(&e.c), ref.evalEventVM(c)
					if got != want {
						t.Fatalf("%s: feature %s: fast %v, vm %v on %+v", m.Version, m.Features[i].Name, got, want, e.ev)
					}
					if got {
						trues[c.src]++
					} else {
						falses[c.src]++
					}
					checked++
				}
				for _, i := range m.order {
					c := &m.rules[i]
					if c.fast == nil {
						continue
					}
					e.c.v = &v
					got, want := c.fast(&e.c), ref.evalVisitorVM(c, &v)
					if got != want {
						t.Fatalf("%s: persona %s (%s): fast %v, vm %v on %v", m.Version, m.Personas[i].Name, c.src, got, want, m.Env(&v))
					}
					if got {
						trues[c.src]++
					} else {
						falses[c.src]++
					}
					checked++
				}
				e.Classify(&v)
			}
		}
		// Every rule of the differential model must have been seen both
		// true and false, or the comparison proves little.
		if m.Version == "diff" {
			for _, src := range append(append([]string{}, eventRules...), visitorRules...) {
				if _, known := trues[src]; !known && falses[src] == 0 {
					continue // on the VM
				}
				if trues[src] == 0 || falses[src] == 0 {
					t.Errorf("rule %q: true %d, false %d times", src, trues[src], falses[src])
				}
			}
		}
		if ref.Errors() != 0 {
			t.Fatalf("%d VM errors", ref.Errors())
		}
		fast, vmOnly := m.Fast()
		t.Logf("%s: %d comparisons; %d conditions fast, %d on the VM", m.Version, checked, fast, vmOnly)
	}
}

func TestFastCoverage(t *testing.T) {
	m := differentialModel(t)
	for i, f := range m.Features {
		wantFast := i < 4+len(eventRules)-3
		if got := m.features[i].fast != nil; got != wantFast {
			t.Errorf("feature %s (%s): fast %v", f.Name, f.When, got)
		}
	}
	for _, i := range m.order {
		wantFast := i < len(visitorRules)-4
		if got := m.rules[i].fast != nil; got != wantFast {
			t.Errorf("persona %s (%s): fast %v", m.Personas[i].Name, m.Personas[i].When, got)
		}
	}
}
