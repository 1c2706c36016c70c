package model

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/personas-dev/personas/schemas"
)

// t0 is the start of the test epoch.
var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

type evOpt func(*schemas.Event)

func withProps(p map[string]any) evOpt {
	return func(e *schemas.Event) {
		if e.Properties == nil {
			e.Properties = map[string]any{}
		}
		for k, v := range p {
			e.Properties[k] = v
		}
	}
}
func withCat(c string) evOpt { return withProps(map[string]any{"category": c}) }
func withDevice(class string) evOpt {
	return func(e *schemas.Event) { e.Device = &schemas.Device{Class: class} }
}
func withCampaign(src, med, name string) evOpt {
	return func(e *schemas.Event) { e.Campaign = &schemas.Campaign{Source: src, Medium: med, Name: name} }
}
func withPath(p string) evOpt   { return func(e *schemas.Event) { e.Path = p } }
func withSearch(s string) evOpt { return func(e *schemas.Event) { e.Search = s } }
func withTime(s string) evOpt   { return func(e *schemas.Event) { e.Time = s } }

// event builds an anonymized event at minute m of the test epoch.
func event(typ, name string, m int, opts ...evOpt) *schemas.Event {
	e := &schemas.Event{
		Schema: schemas.EventV1, Type: typ, Event: name,
		Time:      t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339),
		Pseudonym: "0123456789abcdef0123456789abcdef",
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// session is a builder of one visitor's events: a clock in minutes, a
// device and a campaign applied to every event.
type session struct {
	min    int
	device string
	camp   *schemas.Campaign
	evs    []*schemas.Event
}

func newSession(device string) *session { return &session{device: device} }

func (s *session) campaign(src, med, name string) *session {
	s.camp = &schemas.Campaign{Source: src, Medium: med, Name: name}
	return s
}

// wait advances the clock.
func (s *session) wait(minutes int) *session { s.min += minutes; return s }

func (s *session) add(typ, name string, opts ...evOpt) *session {
	e := event(typ, name, s.min, opts...)
	if s.device != "" {
		e.Device = &schemas.Device{Class: s.device}
	}
	if s.camp != nil && e.Campaign == nil {
		c := *s.camp
		e.Campaign = &c
	}
	s.evs = append(s.evs, e)
	s.min++
	return s
}

func (s *session) page(name, path string) *session { return s.add("page", name, withPath(path)) }

func (s *session) home() *session { return s.page("Home", "/") }

// view is a product page and its Product Viewed event.
func (s *session) view(cat string, price float64) *session {
	s.page("Product", "/p/:seg")
	return s.add("track", "Product Viewed", withPath("/p/:seg"), withProps(map[string]any{"category": cat, "price": price}))
}

// list is a category page and its Product List Viewed event.
func (s *session) list(cat string) *session {
	s.page("Category", "/c/"+cat)
	return s.add("track", "Product List Viewed", withPath("/c/"+cat), withCat(cat))
}

func (s *session) search(q string) *session {
	s.page("Search", "/search")
	return s.add("track", "Products Searched", withPath("/search"), withSearch(q))
}

func (s *session) cartAdd(cat string, price float64) *session {
	return s.add("track", "Product Added", withProps(map[string]any{"category": cat, "price": price, "quantity": 1.0}))
}

func (s *session) cart() *session {
	s.page("Cart", "/cart")
	return s.add("track", "Cart Viewed")
}

func (s *session) checkout() *session {
	s.page("Checkout", "/checkout")
	return s.add("track", "Checkout Started")
}

func (s *session) order(value float64) *session {
	return s.add("track", "Order Completed", withProps(map[string]any{"revenue": value}))
}

func (s *session) deals() *session { return s.page("Deals", "/deals") }

func (s *session) promo() *session {
	return s.add("track", "Promotion Clicked", withPath("/deals"))
}

// randomEvents returns n events of one visitor drawn from the default
// vocabulary, in time order (gaps of 0 to 50 minutes).
func randomEvents(r *rand.Rand, n int) []*schemas.Event {
	names := []string{"Products Searched", "Product List Viewed", "Product Viewed", "Product Added",
		"Product Removed", "Cart Viewed", "Checkout Started", "Order Completed", "Signed In", "Signed Up",
		"Newsletter Subscribed", "Promotion Clicked"}
	pages := []string{"Home", "Category", "Product", "Search", "Cart", "Checkout", "Account", "Deals", "Blog", "Help"}
	cats := []string{"electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery", "unknown"}
	devs := []string{"desktop", "mobile", "tablet", "", "tv"}
	queries := []string{"gift for dad", "usb c charger", "cadeau voor moeder", "[rare]", ""}
	m := 0
	out := make([]*schemas.Event, 0, n)
	for range n {
		switch r.IntN(10) {
		case 0:
			m += 31 + r.IntN(20)
		case 1, 2:
			m += r.IntN(5)
		}
		var opts []evOpt
		if d := devs[r.IntN(len(devs))]; d != "" {
			opts = append(opts, withDevice(d))
		}
		if r.IntN(8) == 0 {
			opts = append(opts, withCampaign([]string{"google", "newsletter", "tiktok"}[r.IntN(3)], []string{"cpc", "email", "social"}[r.IntN(3)],
				[]string{"summer-sale", "christmas-gifts", "new-arrivals"}[r.IntN(3)]))
		}
		var ev *schemas.Event
		if r.IntN(2) == 0 {
			p := pages[r.IntN(len(pages))]
			path := "/" + p
			switch p {
			case "Deals":
				path = "/deals"
			case "Category":
				path = "/c/" + cats[r.IntN(len(cats))]
			}
			ev = event("page", p, m, append(opts, withPath(path))...)
		} else {
			opts = append(opts, withProps(map[string]any{"category": cats[r.IntN(len(cats))], "price": float64(r.IntN(600))}))
			name := names[r.IntN(len(names))]
			if name == "Products Searched" {
				opts = append(opts, withSearch(queries[r.IntN(len(queries))]))
			}
			ev = event("track", name, m, opts...)
		}
		if r.IntN(50) == 0 {
			ev.Time = fmt.Sprintf("bad-%d", r.IntN(3)) // unparseable: counts as the last minute
		}
		out = append(out, ev)
	}
	return out
}
