package synth

import "strconv"

const origin = "https://www.shop.example.com"

// actions (what a pending event is about).
const (
	actPage uint8 = iota
	actCategory
	actProduct
	actSearch
	actDeals
	actPromo
	actAdd
	actRemove
	actCart
	actCheckout
	actOrder
	actSignIn
	actSignUp
	actNewsletter
	actAccount
	actCustom // canary mode: custom track event whose name carries PII
)

type pend struct {
	typ  EventType
	name string
	act  uint8
	dt   int64
}

type cartItem struct {
	p          *product
	price, qty int
}

type session struct {
	id        uint64
	v         *visitor
	bot       bool
	next      int64
	steps     int
	stepsLeft int
	last      uint8
	pend      [5]pend
	np, ip    int

	// current page
	url, ref, title                []byte
	pathStart, pathEnd, searchEnd  int
	qsep                           byte
	pageFrag                       []byte
	fragDirty                      bool
	firstPage                      bool
	extRef                         string
	cat                            uint8
	prod                           *product
	price                          int
	query                          []byte
	listID                         string
	promo                          int
	cart                           [8]cartItem
	ncart                          int
	cartID, orderID, coupon        string
	checkedOut, willOrder, ordered bool
	payMethod                      string
	withIBAN                       bool
	curPage                        string
	removedQty                     int

	// session identity
	ctxFrag  []byte // `"ip":"…"` + visitor static context + network
	campFrag []byte
	camp     bool
	src      srcW
	campName string
	term     string
	content  string
	clickKey string
	clickID  string
	jsession string
	token    string
	signInAt int
	signUpAt int
	newsAt   int
	canProps []byte // canary mode: extra properties
	canEvent string // canary mode: custom event name
	canFrag  string // canary mode: fragment token
}

func (g *Generator) newSession(v *visitor, t int64) *session {
	var s *session
	if n := len(g.free); n > 0 {
		s = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		s = &session{}
	}
	g.seq++
	url, ref, title, pf, q, cf, camp, cp := s.url[:0], s.ref[:0], s.title[:0], s.pageFrag[:0], s.query[:0], s.ctxFrag[:0], s.campFrag[:0], s.canProps[:0]
	*s = session{id: g.seq, v: v, bot: v.bot != nil, url: url, ref: ref, title: title, pageFrag: pf, query: q, ctxFrag: cf, campFrag: camp, canProps: cp,
		firstPage: true, cat: catNone, promo: -1}
	v.active++
	r := g.r
	if s.bot {
		k := v.bot
		s.stepsLeft = k.minPgs + int(r.ExpFloat64()*float64(k.meanPgs-k.minPgs))
		s.ctxFrag = appendFirstKV(s.ctxFrag, "ip", v.ip)
		s.ctxFrag = append(s.ctxFrag, v.staticCtx...)
		return s
	}
	pr := profiles[v.arch]
	s.stepsLeft = pr.minSteps + int(r.ExpFloat64()*float64(pr.meanSteps-pr.minSteps))
	if s.stepsLeft > pr.maxSteps {
		s.stepsLeft = pr.maxSteps
	}
	v.sessions++
	// Network identity: mobile visitors get a new carrier address most sessions.
	if v.sessions > 1 && (v.device != Desktop && r.Float64() < 0.6 || r.Float64() < 0.1) {
		v.ip = g.makeIP(v)
	}
	s.ctxFrag = appendFirstKV(s.ctxFrag, "ip", v.ip)
	s.ctxFrag = append(s.ctxFrag, v.staticCtx...)
	if v.app {
		if r.Float64() < 0.6 {
			s.ctxFrag = append(s.ctxFrag, `,"network":{"wifi":true,"cellular":false}`...)
		} else {
			s.ctxFrag = append(s.ctxFrag, `,"network":{"wifi":false,"cellular":true,"carrier":"`...)
			s.ctxFrag = append(s.ctxFrag, pick(r, []string{"KPN", "Vodafone NL", "Odido", "Lebara"})...)
			s.ctxFrag = append(s.ctxFrag, `"}`...)
		}
	}
	// Campaign.
	if r.Float64() < pr.campaign || g.can != nil {
		s.camp = true
		s.src = pickSource(r.Float64(), pr.sources)
		s.campName = pick(r, pr.campaigns)
		switch s.src.medium {
		case "cpc":
			s.term = pick(r, catSpecs[g.pickCat(v)].queries)
			s.content = pick(r, []string{"text-ad-1", "text-ad-2", "shopping", "pmax"})
		case "social":
			s.content = pick(r, []string{"carousel-2", "story-15s", "reel-a", "feed-single", "video-15s"})
		case "email":
			s.content = pick(r, []string{"hero", "cta-button", "product-grid", "footer-link"})
		case "affiliate":
			s.content = pick(r, []string{"deal-widget", "banner-728x90", "review-link"})
		}
		switch s.src.source {
		case "google":
			s.clickKey, s.clickID = "gclid", makeGclid(r)
		case "bing":
			s.clickKey, s.clickID = "msclkid", makeMsclkid(r)
		case "facebook", "instagram":
			s.clickKey, s.clickID = "fbclid", makeFbclid(r)
		case "tiktok":
			s.clickKey, s.clickID = "ttclid", makeTtclid(r)
		case "newsletter":
			s.clickKey, s.clickID = "mc_eid", randToken(r, 10, hexLower)
		}
	}
	// External referrer.
	switch {
	case s.camp:
		switch s.src.source {
		case "google":
			s.extRef = "https://www.google.com/"
		case "bing":
			s.extRef = "https://www.bing.com/"
		case "facebook":
			s.extRef = pick(r, []string{"https://l.facebook.com/", "https://m.facebook.com/", "http://m.facebook.com/"})
		case "instagram":
			s.extRef = "https://l.instagram.com/"
		case "tiktok":
			s.extRef = "https://www.tiktok.com/"
		case "partner-x":
			s.extRef = "https://www.partner-x.example/deals/" + pick(r, []string{"week-42", "best-of", "top-10-headphones"})
		case "newsletter":
			switch r.IntN(5) {
			case 0: // webmail puts the reader's address in the referrer
				s.extRef = "https://outlook.live.com/mail/0/inbox/id/AQMkADAw" + randToken(r, 24, alnum) + "?login_hint=" + string(appendQueryEscape(nil, v.p.email))
			case 1:
				s.extRef = "https://mail.google.com/"
			default:
				s.extRef = ""
			}
		}
	case r.Float64() < pr.organic:
		s.extRef = pick(r, []string{"https://www.google.com/", "https://www.google.nl/", "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://www.ecosia.org/"})
	case r.Float64() < 0.1:
		s.extRef = pick(r, []string{"https://www.tweakers.net/pricewatch/", "https://www.reddit.com/r/thenetherlands/", "https://t.co/" + randToken(r, 10, alnum)})
	}
	// Legacy app-server session ids and tokens in URLs.
	if r.Float64() < 0.04 {
		s.jsession = randToken(r, 32, hexUpper)
	}
	s.token = randToken(r, 32, hexLower)
	s.cartID = uuidString(r)
	// Identity actions this session.
	n := s.stepsLeft
	if n >= 3 && !v.signedIn {
		if r.Float64() < pr.pSignIn {
			s.signInAt = 2 + r.IntN(n-1)
		} else if r.Float64() < pr.pSignUp {
			s.signUpAt = 2 + r.IntN(n-1)
		}
	}
	if n >= 3 && v.signedIn && r.Float64() < 0.25 {
		s.signInAt = 2 // session expired: sign in again
	}
	if n >= 3 && r.Float64() < pr.pNews {
		s.newsAt = 2 + r.IntN(n-1)
	}
	if g.can != nil {
		g.can.session(g, s)
	}
	if s.camp {
		b := append(s.campFrag, `,"campaign":{`...)
		b = appendFirstKV(b, "name", s.campName)
		b = appendKV(b, "source", s.src.source)
		b = appendKV(b, "medium", s.src.medium)
		if s.term != "" {
			b = appendKV(b, "term", s.term)
		}
		if s.content != "" {
			b = appendKV(b, "content", s.content)
		}
		s.campFrag = append(b, '}')
	}
	return s
}

func (g *Generator) endSession(s *session) {
	s.v.active--
	s.v = nil
	s.prod = nil
	for i := range s.cart {
		s.cart[i].p = nil
	}
	g.free = append(g.free, s)
}

// planStep plans the next step of the session (one page view and the events it
// causes) into s.pend; false when the session ends.
func (g *Generator) planStep(s *session) bool {
	if s.stepsLeft <= 0 {
		return false
	}
	s.stepsLeft--
	s.np, s.ip = 0, 0
	var dt int64
	if s.steps > 0 {
		if s.bot {
			dt = g.think(s.v.bot.think, 0.5)
		} else {
			dt = g.think(profiles[s.v.arch].think, 0.9)
		}
	}
	s.steps++
	if s.bot {
		g.planBot(s)
	} else {
		g.planHuman(s)
	}
	s.pend[0].dt = dt
	return true
}

func (s *session) add(typ EventType, name string, act uint8, dtMs int) {
	s.pend[s.np] = pend{typ: typ, name: name, act: act, dt: int64(dtMs) * 1e6}
	s.np++
}

// page adds the page (web) or screen (app) event for the current page.
func (g *Generator) pageEvent(s *session, act uint8) {
	if s.v.app {
		s.add(TypeScreen, s.pageNameOf(), act, 0)
	} else {
		s.add(TypePage, s.pageNameOf(), act, 0)
	}
}

func (s *session) pageNameOf() string { return s.curPage }

func (g *Generator) track(s *session, name string, act uint8) {
	s.add(TypeTrack, name, act, 30+g.r.IntN(400))
}

func (g *Generator) planHuman(s *session) {
	v := s.v
	pr := profiles[v.arch]
	r := g.r
	if s.steps == 1 {
		g.landing(s, pr)
		return
	}
	switch s.steps {
	case s.signInAt:
		g.doSignIn(s)
		return
	case s.signUpAt:
		g.doSignUp(s)
		return
	case s.newsAt:
		g.doNewsletter(s)
		return
	}
	u := r.Float64()
	switch s.last {
	case actProduct:
		if u < pr.pAdd && s.ncart < len(s.cart) {
			g.doAdd(s)
			return
		}
	case actAdd:
		if u < pr.pCart {
			g.doCart(s)
			return
		}
	case actCart:
		if s.ncart > 0 && !s.checkedOut && u < pr.pCheckout {
			g.doCheckout(s, pr)
			return
		}
		if s.ncart > 1 && u < pr.pCheckout+pr.pRemove {
			g.doRemove(s)
			return
		}
	case actCheckout:
		if s.willOrder {
			g.doOrder(s)
			return
		}
	}
	g.browse(s, pr)
}

func (g *Generator) browse(s *session, pr *profile) {
	r := g.r
	w := pr.browse
	if s.last == actCategory || s.last == actSearch || s.last == actDeals {
		w[brProduct] *= 2.5
	}
	if s.last == actPromo {
		w[brPromo] = 0
	}
	tot := 0.0
	for _, x := range w {
		tot += x
	}
	x := r.Float64() * tot
	choice := brProduct
	for i, c := range w {
		x -= c
		if x < 0 {
			choice = i
			break
		}
	}
	switch choice {
	case brHome:
		g.doHome(s)
	case brCategory:
		g.doCategory(s, g.pickCat(s.v))
	case brProduct:
		c := s.cat
		if c == catNone || r.Float64() < 0.3 {
			c = g.pickCat(s.v)
		}
		g.doProduct(s, c, pr.priceBand == 1 || s.last == actDeals || s.last == actPromo)
	case brSearch:
		g.doSearch(s, pr)
	case brDeals:
		g.doDeals(s, pr)
	case brPromo:
		g.doPromo(s, pr)
	case brBlog:
		g.doBlog(s)
	case brHelp:
		g.doHelp(s)
	case brAccount:
		g.doAccount(s)
	}
}

// landing plans the first page of a session.
func (g *Generator) landing(s *session, pr *profile) {
	r := g.r
	v := s.v
	switch {
	case s.camp:
		switch x := r.Float64(); {
		case x < 0.4 || v.arch == MobileBargainHunter && x < 0.7:
			g.doDeals(s, pr)
		case x < 0.75:
			g.doProduct(s, g.pickCat(v), pr.priceBand == 1)
		default:
			g.doCategory(s, g.pickCat(v))
		}
	case s.extRef != "":
		// search engine / forum: deep link
		switch x := r.Float64(); {
		case x < 0.55:
			g.doProduct(s, g.pickCat(v), pr.priceBand == 1)
		case x < 0.85:
			g.doCategory(s, g.pickCat(v))
		default:
			g.doBlog(s)
		}
	case v.arch == MobileBargainHunter && r.Float64() < 0.5:
		g.doDeals(s, pr)
	case v.signedIn && r.Float64() < 0.3:
		g.doAccount(s)
	default:
		g.doHome(s)
	}
	if s.canEvent != "" {
		g.track(s, s.canEvent, actCustom)
	}
}

// ---- page building ----

func (g *Generator) startPage(s *session, name string) {
	s.ref, s.url = s.url, s.ref[:0]
	if s.firstPage {
		s.ref = append(s.ref[:0], s.extRef...)
	}
	if s.bot {
		s.ref = s.ref[:0]
	}
	s.curPage = name
	s.url = append(s.url, origin...)
	s.pathStart = len(s.url)
	s.title = s.title[:0]
	s.qsep = '?'
}

// endPath marks the end of the path (adding a jsessionid path parameter if the session
// has one) and adds the landing page's campaign parameters.
func (g *Generator) endPath(s *session) {
	if s.jsession != "" {
		s.url = append(s.url, ";jsessionid="...)
		s.url = append(s.url, s.jsession...)
	}
	s.pathEnd = len(s.url)
	if s.firstPage && s.camp {
		s.q("utm_source", s.src.source)
		s.q("utm_medium", s.src.medium)
		s.q("utm_campaign", s.campName)
		if s.term != "" {
			s.q("utm_term", s.term)
		}
		if s.content != "" {
			s.q("utm_content", s.content)
		}
		if s.clickKey != "" {
			s.q(s.clickKey, s.clickID)
		}
		if s.src.medium == "email" && g.r.Float64() < 0.3 {
			s.q("email", s.v.p.email) // ESPs append the subscriber's address
		}
	}
	if g.can != nil {
		g.can.urlParams(s)
	}
}

func (s *session) q(k, v string) {
	s.url = append(s.url, s.qsep)
	s.url = append(s.url, k...)
	s.url = append(s.url, '=')
	s.url = appendQueryEscape(s.url, v)
	s.qsep = '&'
}

func (g *Generator) finishPage(s *session, act uint8) {
	s.searchEnd = len(s.url)
	if g.can != nil {
		g.can.fragment(s)
	} else if s.curPage == PageProduct && g.r.Float64() < 0.05 {
		s.url = append(s.url, "#reviews"...)
	}
	s.title = append(s.title, " | Shop"...)
	s.fragDirty = true
	if g.can != nil && s.firstPage && !s.bot {
		s.curPage = "Landing – " + s.v.can.first + " " + s.v.can.last // page named after document.title
	}
	s.firstPage = false
	g.pageEvent(s, act)
	s.last = act
}

// buildPageFrag renders the context.page body; done lazily at emission so skipped
// (warm-up) events cost no JSON work.
func (s *session) buildPageFrag() {
	s.fragDirty = false
	b := s.pageFrag[:0]
	b = append(b, `"path":`...)
	b = appendString(b, s.url[s.pathStart:s.pathEnd])
	b = append(b, `,"referrer":`...)
	b = appendString(b, s.ref)
	b = append(b, `,"search":`...)
	b = appendString(b, s.url[s.pathEnd:s.searchEnd])
	b = append(b, `,"title":`...)
	b = appendString(b, s.title)
	b = append(b, `,"url":`...)
	b = appendString(b, s.url)
	s.pageFrag = b
}

func (g *Generator) doHome(s *session) {
	g.startPage(s, PageHome)
	s.url = append(s.url, '/')
	g.endPath(s)
	s.title = append(s.title, "Shop – Electronics, Fashion, Home & more"...)
	s.cat = catNone
	g.finishPage(s, actPage)
}

func (g *Generator) doCategory(s *session, c uint8) {
	r := g.r
	g.startPage(s, PageCategory)
	s.url = append(s.url, "/c/"...)
	s.url = append(s.url, catNames[c]...)
	g.endPath(s)
	if r.Float64() < 0.3 {
		s.q("sort", pick(r, []string{"price_asc", "popular", "newest", "rating"}))
	}
	if r.Float64() < 0.25 {
		s.q("page", strconv.Itoa(2+r.IntN(6)))
	}
	s.title = append(s.title, catTitles[c]...)
	s.cat = c
	s.listID = catNames[c]
	g.finishPage(s, actCategory)
	g.track(s, EventProductListViewed, actCategory)
}

func (g *Generator) pickProduct(c uint8, cheap bool, band int) (*product, int) {
	r := g.r
	list := catalog[c]
	n := len(list)
	var i int
	switch {
	case cheap:
		i = r.IntN(n * 35 / 100)
	case band == 2:
		i = n/2 + r.IntN(n-n/2)
	default:
		i = r.IntN(n)
	}
	p := list[i]
	price := p.price
	if cheap {
		price = price * (40 + r.IntN(41)) / 100
		price = price - price%100 + 99
		if price > p.price {
			price = p.price
		}
	}
	return p, price
}

func (g *Generator) doProduct(s *session, c uint8, cheap bool) {
	band := 0
	if !s.bot {
		band = profiles[s.v.arch].priceBand
	}
	p, price := g.pickProduct(c, cheap, band)
	g.startPage(s, PageProduct)
	s.url = append(s.url, p.path...)
	g.endPath(s)
	if g.r.Float64() < 0.1 {
		s.q("variant", strconv.Itoa(1+g.r.IntN(4)))
	}
	s.title = append(s.title, p.name...)
	s.cat, s.prod, s.price = c, p, price
	g.finishPage(s, actProduct)
	if !s.bot {
		g.track(s, EventProductViewed, actProduct)
	}
}

func (g *Generator) doSearch(s *session, pr *profile) {
	r := g.r
	s.query = s.query[:0]
	c := g.pickCat(s.v)
	switch x := r.Float64(); {
	case x < pr.giftSearch:
		s.query = append(s.query, pick(r, giftQueries)...)
		if r.Float64() < 0.5 {
			c = catToys
		} else if c != catBooks {
			c = catBooks
		}
	case x < pr.giftSearch+0.01: // people type names into the search box
		if r.Float64() < 0.5 {
			s.query = append(s.query, "cadeau voor "...)
			s.query = append(s.query, fold(s.v.p.first)...)
		} else {
			s.query = append(s.query, s.v.p.fullName()...)
		}
	case x < pr.giftSearch+0.013:
		s.query = append(s.query, s.v.p.email...) // pasted into the wrong box
	default:
		s.query = append(s.query, pick(r, catSpecs[c].queries)...)
	}
	if g.can != nil {
		g.can.search(s)
	}
	g.startPage(s, PageSearch)
	s.url = append(s.url, "/search"...)
	g.endPath(s)
	s.url = append(s.url, s.qsep)
	s.url = append(s.url, "q="...)
	s.url = appendQueryEscape(s.url, s.query)
	s.qsep = '&'
	s.title = append(s.title, "Search results for “"...)
	s.title = append(s.title, s.query...)
	s.title = append(s.title, "”"...)
	s.cat = c
	s.add(TypeTrack, EventProductsSearched, actSearch, 0)
	finishStart := s.np
	g.finishPage(s, actSearch)
	// Products Searched fires before the results page loads.
	s.pend[finishStart].dt = int64(200+r.IntN(600)) * 1e6
}

func (g *Generator) doDeals(s *session, pr *profile) {
	r := g.r
	g.startPage(s, PageDeals)
	s.url = append(s.url, "/deals"...)
	withCat := r.Float64() < 0.55
	c := g.pickCat(s.v)
	if withCat {
		s.url = append(s.url, '/')
		s.url = append(s.url, catNames[c]...)
	}
	g.endPath(s)
	s.title = append(s.title, "Deals – up to 60% off"...)
	if withCat {
		s.title = append(s.title, " "...)
		s.title = append(s.title, catTitles[c]...)
		s.cat = c
		s.listID = dealsListIDs[c]
	} else {
		s.cat = catNone
	}
	g.finishPage(s, actDeals)
	if withCat {
		g.track(s, EventProductListViewed, actDeals)
	}
}

var dealsListIDs = func() (ids [numCats]string) {
	for c := range ids {
		ids[c] = "deals-" + catNames[c]
	}
	return
}()

var promos = []struct{ id, name, creative, path string }{
	{"promo_spring_sale_hero", "Spring Sale – up to 50% off", "hero_banner", "/deals/spring-sale"},
	{"promo_black_friday", "Black Friday Week", "hero_banner_mobile", "/deals/black-friday"},
	{"promo_free_shipping", "Free shipping over €50", "top_strip", "/deals"},
	{"promo_app_download", "10% off in the app", "interstitial", "/deals/app"},
	{"promo_outlet", "Outlet: last sizes", "carousel_slot_3", "/deals/outlet"},
	{"promo_gift_guide", "Gift guide 2025", "tile_home_2", "/deals/gifts"},
}

func (g *Generator) doPromo(s *session, pr *profile) {
	s.promo = g.r.IntN(len(promos))
	if s.pathStart > 0 && !s.firstPage {
		// clicked on the current page, then lands on the promotion page
		g.track(s, EventPromotionClicked, actPromo)
		s.pend[s.np-1].dt = 0
	}
	pm := promos[s.promo]
	g.startPage(s, PageDeals)
	s.url = append(s.url, pm.path...)
	g.endPath(s)
	s.q("promo", pm.id)
	s.title = append(s.title, pm.name...)
	s.cat = catNone
	g.finishPage(s, actPromo)
	if s.np > 1 {
		s.pend[1].dt = int64(300+g.r.IntN(900)) * 1e6
	}
}

func (g *Generator) doBlog(s *session) {
	c := g.pickCat(s.v)
	slug := pick(g.r, catSpecs[c].blog)
	g.startPage(s, PageBlog)
	s.url = append(s.url, "/blog/"...)
	s.url = append(s.url, slug...)
	g.endPath(s)
	s.title = append(s.title, blogTitles[slug]...)
	s.title = append(s.title, " – Blog"...)
	s.cat = c
	g.finishPage(s, actPage)
}

func (g *Generator) doHelp(s *session) {
	r := g.r
	topic := pick(r, helpTopics)
	g.startPage(s, PageHelp)
	s.url = append(s.url, "/help/"...)
	s.url = append(s.url, topic...)
	g.endPath(s)
	if topic == "order-status" && r.Float64() < 0.5 {
		s.q("order", g.orderNumber())
		s.q("email", s.v.p.email)
	}
	s.title = append(s.title, "Help: "...)
	s.title = append(s.title, topic...)
	s.cat = catNone
	g.finishPage(s, actPage)
}

func (g *Generator) orderNumber() string {
	return "NL" + strconv.Itoa(10000000+g.r.IntN(90000000))
}

func (g *Generator) doAccount(s *session) {
	r := g.r
	v := s.v
	if !v.signedIn {
		g.doLoginPage(s)
		return
	}
	g.startPage(s, PageAccount)
	switch x := r.Float64(); {
	case g.can != nil && x < 0.3:
		s.url = append(s.url, "/account/u/"...)
		s.url = append(s.url, v.p.email...)
	case x < 0.4:
		s.url = append(s.url, "/account"...)
	case x < 0.7 || v.orders == 0:
		s.url = append(s.url, "/account/orders"...)
	default:
		s.url = append(s.url, "/account/orders/"...)
		s.url = append(s.url, g.orderNumber()...)
	}
	g.endPath(s)
	s.title = append(s.title, "Welcome back, "...)
	s.title = append(s.title, v.p.first...)
	s.cat = catNone
	g.finishPage(s, actAccount)
}

func (g *Generator) doLoginPage(s *session) {
	r := g.r
	g.startPage(s, PageAccount)
	s.url = append(s.url, "/account/login"...)
	g.endPath(s)
	if r.Float64() < 0.2 {
		s.q("email", s.v.p.email)
	}
	if r.Float64() < 0.3 {
		s.q("returnUrl", "/checkout")
	}
	s.title = append(s.title, "Sign in"...)
	g.finishPage(s, actAccount)
}

func (g *Generator) doSignIn(s *session) {
	g.doLoginPage(s)
	s.add(TypeIdentify, "", actSignIn, 800+g.r.IntN(4000))
	g.track(s, EventSignedIn, actSignIn)
}

func (g *Generator) doSignUp(s *session) {
	g.startPage(s, PageAccount)
	s.url = append(s.url, "/account/register"...)
	g.endPath(s)
	s.title = append(s.title, "Create an account"...)
	g.finishPage(s, actAccount)
	s.add(TypeIdentify, "", actSignUp, 20000+g.r.IntN(60000))
	g.track(s, EventSignedUp, actSignUp)
}

func (g *Generator) doNewsletter(s *session) {
	if s.firstPage {
		g.doHome(s)
	}
	g.track(s, EventNewsletterSubscribed, actNewsletter)
	s.pend[s.np-1].dt = 0
	s.add(TypeIdentify, "", actNewsletter, 50+g.r.IntN(200))
}

func (g *Generator) doAdd(s *session) {
	r := g.r
	q := 1
	if r.Float64() < 0.15 {
		q = 2 + r.IntN(2)
	}
	s.cart[s.ncart] = cartItem{p: s.prod, price: s.price, qty: q}
	s.ncart++
	g.track(s, EventProductAdded, actAdd)
	s.pend[0].dt = 0
	s.last = actAdd
}

func (g *Generator) doRemove(s *session) {
	i := g.r.IntN(s.ncart)
	s.prod, s.price = s.cart[i].p, s.cart[i].price
	s.removedQty = s.cart[i].qty
	copy(s.cart[i:], s.cart[i+1:s.ncart])
	s.ncart--
	s.cart[s.ncart].p = nil
	g.track(s, EventProductRemoved, actRemove)
	s.pend[0].dt = 0
	s.last = actRemove
}

func (g *Generator) doCart(s *session) {
	g.startPage(s, PageCart)
	s.url = append(s.url, "/cart"...)
	g.endPath(s)
	s.title = append(s.title, "Shopping cart ("...)
	s.title = strconv.AppendInt(s.title, int64(s.ncart), 10)
	s.title = append(s.title, ')')
	g.finishPage(s, actCart)
	g.track(s, EventCartViewed, actCart)
}

func (g *Generator) doCheckout(s *session, pr *profile) {
	r := g.r
	s.checkedOut = true
	s.orderID = g.orderNumber()
	if g.can != nil {
		s.orderID = g.can.order()
	}
	s.willOrder = r.Float64() < pr.pOrder
	if !s.willOrder && r.Float64() < 0.6 {
		s.stepsLeft = 0 // abandons and leaves
	}
	if s.willOrder && s.stepsLeft == 0 {
		s.stepsLeft = 1
	}
	s.payMethod = pick(r, []string{"ideal", "ideal", "ideal", "creditcard", "paypal", "klarna", "bancontact", "sepa_direct_debit"})
	s.withIBAN = s.payMethod == "sepa_direct_debit" || r.Float64() < 0.03
	s.coupon = ""
	if r.Float64() < 0.35 {
		s.coupon = pick(r, []string{"SPRING10", "WELCOME15", "BF2025", "FREESHIP", "APP10"})
	}
	g.startPage(s, PageCheckout)
	s.url = append(s.url, "/checkout"...)
	if r.Float64() < 0.3 {
		s.url = append(s.url, "/payment"...)
		g.endPath(s)
		s.q("token", s.token)
	} else {
		g.endPath(s)
	}
	s.title = append(s.title, "Checkout"...)
	g.finishPage(s, actCheckout)
	g.track(s, EventCheckoutStarted, actCheckout)
}

func (g *Generator) doOrder(s *session) {
	v := s.v
	s.ordered = true
	s.willOrder = false
	v.orders++
	if g.r.Float64() < 0.6 {
		s.stepsLeft = 0
	}
	s.np = 0
	g.track(s, EventOrderCompleted, actOrder)
	s.pend[0].dt = 0
	// confirmation page after the payment provider redirect
	np := s.np
	g.startPage(s, PageAccount)
	s.url = append(s.url, "/account/orders/"...)
	s.url = append(s.url, s.orderID...)
	g.endPath(s)
	s.q("status", "paid")
	s.title = append(s.title, "Thank you for your order, "...)
	s.title = append(s.title, v.p.first...)
	s.title = append(s.title, '!')
	g.finishPage(s, actOrder)
	s.pend[np].dt = int64(1500+g.r.IntN(3000)) * 1e6
	s.last = actOrder
}

// ---- bots ----

func (g *Generator) planBot(s *session) {
	r := g.r
	switch x := r.Float64(); {
	case x < 0.45:
		g.doProduct(s, uint8(r.IntN(int(numCats))), false)
	case x < 0.65:
		g.doCategory(s, uint8(r.IntN(int(numCats))))
		s.np-- // crawlers do not fire the list track event
	case x < 0.75:
		g.doBlog(s)
	case x < 0.82:
		g.doHelp(s)
	case x < 0.9:
		g.doHome(s)
	case x < 0.95:
		g.startPage(s, PageDeals)
		s.url = append(s.url, "/deals"...)
		g.endPath(s)
		s.title = append(s.title, "Deals – up to 60% off"...)
		s.cat = catNone
		g.finishPage(s, actDeals)
	default:
		s.query = append(s.query[:0], pick(r, catSpecs[r.IntN(int(numCats))].queries)...)
		g.startPage(s, PageSearch)
		s.url = append(s.url, "/search"...)
		g.endPath(s)
		s.q("q", string(s.query))
		s.title = append(s.title, "Search results"...)
		s.cat = catNone
		g.finishPage(s, actSearch)
	}
}
