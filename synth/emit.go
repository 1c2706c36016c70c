package synth

import (
	"bytes"
	"strconv"
	"time"
)

// emit writes the pending event p of session s at time t (ns, ms-aligned) into ev.
func (g *Generator) emit(ev *Event, s *session, p *pend, t int64) {
	v := s.v
	r := g.r
	if s.fragDirty {
		s.buildPageFrag()
	}
	bad := Valid
	if g.cfg.BadShare > 0 && r.Float64() < g.cfg.BadShare {
		bad = g.badKind[pickCum(r, g.badCum)]
	}

	b := ev.Value[:0]
	b = append(b, `{"type":"`...)
	b = append(b, p.typ.String()...)
	b = append(b, '"')
	g.off.typeEnd = len(b)
	g.off.nameStart = -1
	switch p.typ {
	case TypeTrack:
		b = append(b, `,"event":`...)
		g.off.nameStart = len(b) + 1
		b = appendString(b, p.name)
	case TypePage, TypeScreen:
		b = append(b, `,"name":`...)
		g.off.nameStart = len(b) + 1
		b = appendString(b, p.name)
	}
	b = append(b, `,"messageId":"`...)
	b = appendUUID(b, r.Uint64(), r.Uint64())
	b = append(b, '"')
	g.off.idStart = len(b)
	if s.bot {
		b = append(b, `,"anonymousId":"`...)
		if g.can != nil {
			b = append(b, g.can.add("uuid", uuidString(g.can.r))...)
		} else {
			b = appendUUID(b, r.Uint64(), r.Uint64())
		}
		b = append(b, '"')
	} else {
		b = append(b, v.idFrag...)
	}
	g.off.idEnd = len(b)
	b = append(b, `,"timestamp":"`...)
	g.off.tsStart = len(b)
	b = g.tsCache.append(b, t)
	b = append(b, `","sentAt":"`...)
	delay := 5 + r.IntN(1500)
	if v.app {
		delay = 200 + r.IntN(30000)
	}
	b = g.tsCache.append(b, t+int64(delay)*1e6)
	b = append(b, `","context":{`...)
	ctxStart := len(b)
	b = append(b, s.ctxFrag...)
	if !v.app {
		b = append(b, `,"page":{`...)
		b = append(b, s.pageFrag...)
		b = append(b, '}')
	}
	b = append(b, s.campFrag...)
	if !s.bot {
		b = append(b, v.traitsFrag...)
	}
	b = append(b, '}')
	cat := catNone
	if p.typ == TypeIdentify {
		b = append(b, `,"traits":`...)
		g.off.lastStart = len(b)
		b = append(b, '{')
		b = g.traits(b, s, p, t)
	} else {
		b = append(b, `,"properties":`...)
		g.off.lastStart = len(b)
		b = append(b, '{')
		b, cat = g.props(b, s, p)
	}
	if g.can != nil && !s.bot {
		b = append(b, s.canProps...)
	}
	b = append(b, '}', '}')

	if bad != Valid {
		b = g.corrupt(b, bad, t, ctxStart)
	}
	ev.Value = b
	if s.bot {
		ev.Key = nil
	} else {
		ev.keyBuf = append(ev.keyBuf[:0], v.id...)
		ev.Key = ev.keyBuf
	}
	ev.Time = time.Unix(0, t).UTC()
	ev.Archetype = v.arch
	ev.VisitorID = v.id
	ev.Bot = s.bot
	ev.Bad = bad
	ev.Type = p.typ
	ev.Name = p.name
	ev.Category = ""
	if cat != catNone {
		ev.Category = catNames[cat]
	}
	ev.Campaign = s.camp
	ev.SignedIn = v.signedIn && !s.bot
	ev.Session = s.id
	ev.Device = v.device
	ev.App = v.app
}

// props writes the properties object body (after '{') and returns the event's category.
func (g *Generator) props(b []byte, s *session, p *pend) ([]byte, uint8) {
	r := g.r
	switch p.typ {
	case TypePage:
		b = append(b, s.pageFrag...)
		if s.cat != catNone && (p.act == actCategory || p.act == actDeals || p.act == actPage || p.act == actSearch) {
			b = appendKV(b, "category", catNames[s.cat])
			return b, s.cat
		}
		if p.act == actProduct {
			b = appendKV(b, "category", catNames[s.prod.cat])
			b = appendKV(b, "product_id", s.prod.id)
			return b, s.prod.cat
		}
		return b, catNone
	case TypeScreen:
		if p.act == actProduct { // product screens describe the product ("name" is its name)
			b = append(b, s.prod.frag...)
			b = appendKCents(b, "price", s.price)
			return b, s.prod.cat
		}
		b = appendFirstKV(b, "name", p.name)
		if s.cat != catNone && (p.act == actCategory || p.act == actDeals || p.act == actPage || p.act == actSearch) {
			b = appendKV(b, "category", catNames[s.cat])
			return b, s.cat
		}
		return b, catNone
	}
	// track
	switch p.act {
	case actCategory, actDeals:
		b = appendFirstKV(b, "list_id", s.listID)
		b = appendKV(b, "category", catNames[s.cat])
		return b, s.cat
	case actProduct:
		b = append(b, s.prod.frag...)
		b = appendKCents(b, "price", s.price)
		b = append(b, `,"currency":"EUR"`...)
		if s.price < s.prod.price {
			b = appendKCents(b, "original_price", s.prod.price)
			b = append(b, `,"on_sale":true`...)
		}
		b = append(b, `,"url":`...)
		b = appendString(b, s.url[:s.searchEnd])
		return b, s.prod.cat
	case actSearch:
		b = append(b, `"query":`...)
		b = appendString(b, s.query)
		if s.cat != catNone {
			return b, s.cat
		}
	case actPromo:
		pm := promos[s.promo]
		b = appendFirstKV(b, "promotion_id", pm.id)
		b = appendKV(b, "name", pm.name)
		b = appendKV(b, "creative", pm.creative)
		b = appendKV(b, "position", "home_top")
	case actAdd, actRemove:
		b = appendFirstKV(b, "cart_id", s.cartID)
		b = append(b, ',')
		b = append(b, s.prod.frag...)
		b = appendKCents(b, "price", s.price)
		q := 1
		if p.act == actAdd {
			q = s.cart[s.ncart-1].qty
		} else {
			q = s.removedQty
		}
		b = appendKInt(b, "quantity", q)
		b = append(b, `,"currency":"EUR"`...)
		return b, s.prod.cat
	case actCart:
		b = appendFirstKV(b, "cart_id", s.cartID)
		b = g.products(b, s)
	case actCheckout:
		sum := s.cartSum()
		if s.coupon != "" {
			sum -= sum / 10
		}
		b = appendFirstKV(b, "order_id", s.orderID)
		b = appendKCents(b, "value", sum)
		b = appendKCents(b, "revenue", sum-sum*21/121)
		b = append(b, `,"currency":"EUR"`...)
		b = appendKV(b, "payment_method", s.payMethod)
		if s.coupon != "" {
			b = appendKV(b, "coupon", s.coupon)
		}
		if s.withIBAN {
			b = appendKV(b, "iban", s.v.p.iban)
			b = appendKV(b, "account_holder", s.v.p.fullName())
		}
		b = g.products(b, s)
	case actOrder:
		sum := s.cartSum()
		disc := 0
		if s.coupon != "" {
			disc = sum / 10
			sum -= disc
		}
		ship := 0
		if sum < 5000 {
			ship = 495
		}
		tax := sum * 21 / 121
		b = appendFirstKV(b, "order_id", s.orderID)
		b = appendKV(b, "checkout_id", s.cartID)
		b = appendKCents(b, "total", sum+ship)
		b = appendKCents(b, "revenue", sum-tax)
		b = appendKCents(b, "shipping", ship)
		b = appendKCents(b, "tax", tax)
		b = append(b, `,"currency":"EUR"`...)
		if s.coupon != "" {
			b = appendKV(b, "coupon", s.coupon)
			b = appendKCents(b, "discount", disc)
		}
		b = g.products(b, s)
	case actSignIn:
		b = appendFirstKV(b, "method", pick(r, []string{"password", "password", "google", "apple", "magic_link"}))
		if r.Float64() < 0.4 {
			b = appendKV(b, "username", s.v.p.email)
		}
	case actSignUp:
		pp := &s.v.p
		b = appendFirstKV(b, "method", pick(r, []string{"email", "email", "google", "apple"}))
		b = appendKV(b, "email", pp.email)
		b = appendKV(b, "first_name", pp.first)
		b = appendKV(b, "last_name", pp.last)
		if r.Float64() < 0.6 {
			b = appendKV(b, "phone", pp.phone)
		}
	case actNewsletter:
		b = appendFirstKV(b, "email", s.v.p.email)
		b = appendKV(b, "list", "weekly-deals")
		b = appendKV(b, "source", pick(r, []string{"footer", "popup", "checkout"}))
	case actCustom:
		b = appendFirstKV(b, "channel", "whatsapp")
		b = appendKV(b, "message", "Kijk eens, "+s.v.p.first+"!")
	default:
		b = append(b, `"source":"web"`...)
	}
	return b, catNone
}

func (s *session) cartSum() int {
	sum := 0
	for i := 0; i < s.ncart; i++ {
		sum += s.cart[i].price * s.cart[i].qty
	}
	return sum
}

func (g *Generator) products(b []byte, s *session) []byte {
	b = append(b, `,"products":[`...)
	for i := 0; i < s.ncart; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		it := &s.cart[i]
		b = append(b, '{')
		b = append(b, it.p.frag...)
		b = appendKCents(b, "price", it.price)
		b = appendKInt(b, "quantity", it.qty)
		b = appendKInt(b, "position", i+1)
		b = append(b, '}')
	}
	return append(b, ']')
}

// traits writes the identify traits object body (after '{').
func (g *Generator) traits(b []byte, s *session, p *pend, t int64) []byte {
	pp := &s.v.p
	b = appendFirstKV(b, "email", pp.email)
	if p.act == actNewsletter {
		return append(b, `,"newsletter":true`...)
	}
	b = appendKV(b, "firstName", pp.first)
	b = appendKV(b, "lastName", pp.last)
	b = appendKV(b, "name", pp.fullName())
	if p.act == actSignIn {
		if s.v.orders > 0 {
			b = appendKInt(b, "orders", s.v.orders)
		}
		return b
	}
	b = appendKV(b, "phone", pp.phone)
	b = append(b, `,"address":{`...)
	b = appendFirstKV(b, "street", pp.street+" "+pp.house)
	b = appendKV(b, "postalCode", pp.postcode)
	b = appendKV(b, "city", pp.city)
	b = appendKV(b, "country", pp.country)
	b = append(b, '}')
	if pp.birthday != "" {
		b = appendKV(b, "birthday", pp.birthday)
	}
	b = append(b, `,"createdAt":"`...)
	b = appendTime(b, t)
	b = append(b, '"')
	if g.r.Float64() < 0.4 {
		b = append(b, `,"newsletter":true`...)
	}
	return b
}

// ---- bad events ----

var blobData = func() []byte {
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, 256<<10)
	x := uint64(88172645463325252)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = a[x&63]
	}
	return b
}()

func (g *Generator) corrupt(b []byte, kind BadKind, t int64, ctxStart int) []byte {
	r := g.r
	switch kind {
	case BadTruncated:
		return b[:1+r.IntN(len(b)-1)]
	case BadNotJSON:
		b = b[:0]
		switch r.IntN(6) {
		case 0:
			b = append(b, "v=1&t=pageview&tid=UA-48213-1&cid="...)
			b = strconv.AppendUint(b, r.Uint64()%1e10, 10)
			b = append(b, '.')
			b = strconv.AppendUint(b, 1700000000+r.Uint64()%1e8, 10)
			b = append(b, "&dp=%2Fc%2Felectronics&ul=nl-nl"...)
		case 1:
			b = append(b, `<?xml version="1.0" encoding="UTF-8"?><event><type>page</type><name>Home</name></event>`...)
		case 2:
			b = append(b, "[object Object]"...)
		case 3:
			b = append(b, 0x08, 0x96, 0x01, 0x12, 0x07)
			b = append(b, "Product"...)
			for i := 0; i < 24; i++ {
				b = append(b, byte(r.Uint32()))
			}
		case 4:
			b = append(b, "undefined"...)
		default:
			b = append(b, 0x1f, 0x8b, 0x08, 0x00) // gzip member sent without Content-Encoding
			for i := 0; i < 48; i++ {
				b = append(b, byte(r.Uint32()))
			}
		}
		return b
	case BadEmpty:
		return b[:0]
	case BadWrongType:
		if r.IntN(2) == 0 { // timestamp as epoch milliseconds
			ts := g.off.tsStart
			g.tmp = append(g.tmp[:0], b[ts+25:]...)
			b = strconv.AppendInt(b[:ts-1], t/1e6, 10)
			return append(b, g.tmp...)
		}
		// properties/traits double-encoded as a JSON string
		ls := g.off.lastStart
		g.tmp = append(g.tmp[:0], b[ls:len(b)-1]...)
		b = appendString(b[:ls], g.tmp)
		return append(b, '}')
	case BadMissingType:
		return append(b[:1], b[g.off.typeEnd+1:]...)
	case BadMissingID:
		b = append(b[:g.off.idStart], b[g.off.idEnd:]...)
		// App events also name the device; an identifier-free event names
		// none (the id moves to a field no pipeline reads as an identifier).
		return bytes.Replace(b, []byte(`"device":{"id":`), []byte(`"device":{"vendorRef":`), 1)
	case BadInvalidUTF8:
		pos := g.off.nameStart
		if pos < 0 { // identify: inside the user agent
			pos = ctxStart + bytes.Index(b[ctxStart:], []byte(`"userAgent":"`)) + len(`"userAgent":"`)
		}
		ins := [][]byte{[]byte("caf\xe9 "), []byte("\xff\xfe"), []byte("M\xfcller "), []byte("\xe2\x80 "), []byte("\xc3\x28")}[r.IntN(5)]
		g.tmp = append(g.tmp[:0], b[pos:]...)
		b = append(b[:pos], ins...)
		return append(b, g.tmp...)
	case BadOversized:
		n := 80<<10 + r.IntN(120<<10)
		b = b[:len(b)-2]
		b = append(b, `,"session_replay":"data:application/octet-stream;base64,`...)
		b = append(b, blobData[:n]...)
		return append(b, '"', '}', '}')
	case BadDeepNesting:
		d := DeepNestingMin + r.IntN(DeepNestingMax-DeepNestingMin+1)
		b = b[:len(b)-2]
		b = append(b, `,"payload":`...)
		for i := 0; i < d; i++ {
			b = append(b, `{"a":`...)
		}
		b = append(b, '1')
		for i := 0; i < d; i++ {
			b = append(b, '}')
		}
		return append(b, '}', '}')
	case BadTimestampPast, BadTimestampFuture:
		var ts int64
		day := int64(24 * time.Hour)
		if kind == BadTimestampPast {
			if r.IntN(10) == 0 {
				ts = 0 // 1970-01-01T00:00:00.000Z
			} else {
				ts = t - int64(SkewPastMin)*1e9 - r.Int64N(10*365*day)
			}
		} else {
			ts = t + int64(SkewFutureMin)*1e9 + r.Int64N(3*365*day)
		}
		g.tmp = appendTime(g.tmp[:0], ts)
		copy(b[g.off.tsStart:], g.tmp)
		return b
	}
	return b
}
