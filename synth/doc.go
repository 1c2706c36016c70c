// Package synth generates a realistic synthetic clickstream of a Dutch web shop in
// the Segment-style raw shape, personal data included, for the demo (`make demo`,
// `personas generate`), benchmarks and tests. It is pure: no Kafka, Redis or logging;
// callers write Event.Key/Value wherever they like.
//
// # Use
//
//	cfg := synth.DefaultConfig()
//	cfg.Seed, cfg.Start = 7, time.Now()
//	g := synth.New(cfg)
//	var ev synth.Event
//	for {
//		g.Next(&ev) // reuses ev.Key / ev.Value: copy them if you keep them
//		// live traffic: wait until ev.Time (the stream is in event-time order)
//		// produce ev.Key, ev.Value with record timestamp ev.Time
//	}
//
// The stream is deterministic for a given Config (Seed and a fixed Start): byte for
// byte the same events. Events come in non-decreasing Event.Time; the mean rate is
// Config.EventsPerSecond of event time, shaped by a diurnal curve (night trough,
// lunch bump, evening peak) that can be compressed with Config.DayLength (a day in
// 10 minutes for the demo; think times compress with it). Sessions that would be in
// progress at Start are created up front (Little's law), so the rate is steady from
// the first second. Generation is cheap: ~1.1 KB per event, one small allocation per
// event amortised, 330-510k events per CPU-second on a busy 2-vCPU VM (BenchmarkNext).
//
// # Event shape
//
// Every valid event is a JSON object with type (page|track|identify|screen), event
// (track) or name (page/screen), messageId, anonymousId, userId (signed-in visitors
// only), timestamp and sentAt (RFC 3339, milliseconds, UTC), context{ip, userAgent,
// locale, library, timezone, page{path, referrer, search, title, url} (web),
// app/device{id, advertisingId, adTrackingEnabled, type, manufacturer, model, name}/
// os/screen/network (native app), campaign{name, source, medium, term, content}
// (sessions from a utm link), traits{email, name} (some signed-in visitors)},
// properties{…} (page events repeat the page fields there, as analytics.js does) or
// traits{…} (identify). The vocabulary (categories, track event names, page names,
// campaign sources/mediums/names) is exported: Categories, TrackEvents, PageNames,
// CampaignSources, CampaignMediums, CampaignNames and the Event*/Page* constants.
//
// Paths: / , /c/<category>, /p/<slug>-<6..8 digit id>, /search?q=…, /cart,
// /checkout[/payment?token=…], /account[/login|/register|/orders[/<order number>]],
// /deals[/<category>|/<promo>], /blog/<slug>, /help/<topic>; 4 % of sessions carry a
// ;jsessionid=<hex> path parameter on every URL.
//
// # Personal data (all of it must be stripped by ingest)
//
// userId ("cust-012345" or the e-mail address), anonymousId (UUID v4), IPv4 and IPv6
// addresses (Dutch broadband/mobile prefixes; mobile visitors change address most
// sessions), device ids, IDFA/GAID, device names ("Sanne's iPhone"), e-mail, names,
// Dutch and foreign phone numbers, street + house number + postcode ("1015 CJ") and
// birthdays in identify/Signed Up traits, e-mail in query strings (?email= on
// newsletter landings, login and order-status pages) and in webmail referrers
// (login_hint=), gclid/fbclid/msclkid/ttclid/mc_eid click ids, session tokens (?token=,
// ;jsessionid=), order numbers in paths, names in titles ("Welcome back, Sanne", "Thank
// you for your order, Sanne!"), names and e-mails typed into the search box (~1 %),
// IBANs (valid check digits) in Checkout Started for direct debit and occasionally
// otherwise. Names are Dutch (including Moroccan/Turkish-Dutch) and international,
// some with diacritics.
//
// # Archetypes
//
// Every human visitor has one Archetype for life (Config.Mix weighs them); each
// session picks its archetype by weight, then an idle visitor of it, so visitors
// return. See README.md in this directory for the per-visitor counters that tell
// them apart. Bots (Config.BotShare of events, flat over the day): Googlebot
// (smartphone and desktop), bingbot, AhrefsBot, curl, python-requests and
// HeadlessChrome from data-centre addresses; page events only, typically 10-100
// pages per visit at 0.4-3 s each, no cookies (new anonymousId on every event, Key nil), no
// referrer, campaign or userId.
//
// # Bad events
//
// Config.BadShare of events (default 1 %) are corrupted in exactly one way and
// labelled with a BadKind (Event.Bad): truncated, not_json, empty, wrong_type
// (timestamp as a number, properties/traits as a string), missing_type, missing_id,
// invalid_utf8, oversized (> OversizeLimit = 64 KiB), deep_nesting (DeepNestingMin-
// DeepNestingMax levels, still < 64 KiB), timestamp_past (>= SkewPastMin early) and
// timestamp_future (>= SkewFutureMin late; sentAt stays right). Config.BadMix
// restricts or weighs the kinds.
//
// # Canaries
//
// With Config.Canaries every identifier is a registered canary and every event
// carries them in every field of the raw shape and where identifiers hide in
// practice: anonymousId, userId, ip, device ids, user agent, URL path (jsessionid,
// order numbers, /account/u/<e-mail>), query (email, token, u=<base64>, uid, utm_term,
// click ids), fragment (#access_token=…&email=…), referrer, title, search terms, page
// and event names ("Wishlist Shared With <e-mail>"), campaign term/content, context
// traits, nested properties (customer.contact, ids arrays), free text (phone, IBAN,
// BSN, card number, postcode + house number), a cookie header, X-Forwarded-For, a
// JWT, \u0040-escaped and fully \u-escaped values, upper case and base64. IBANs pass
// mod 97, card numbers Luhn and BSNs the 11-check. Generator.Canaries returns every
// planted value with its encoded variants; NewCanaryMatcher scans any output for
// them in one pass, ignoring case. CanaryRaw returns a small fixed hand-written
// corpus with the same properties.
//
// Ground truth for tests is on Event (Archetype, VisitorID, Session, Bot, Bad, Type,
// Name, Category, Campaign, SignedIn, Device, App); none of it is needed to process
// the payload.
package synth
