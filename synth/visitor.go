package synth

import (
	"strconv"
	"strings"
)

// visitor is a person (or crawler) with a stable identity, device and archetype.
type visitor struct {
	idx    int
	arch   Archetype
	bot    *botKind
	id     string // anonymousId (humans) / "bot-<kind>-<n>" (bots)
	device DeviceClass
	app    bool
	ad     appDevice
	ua     string
	locale string
	ipv6   bool
	ip     string
	p      person

	deviceID, adID, deviceName string
	userID                     string
	signedIn                   bool
	ctxTraits                  bool
	catCum                     [numCats]float64
	active                     int // sessions in progress
	sessions                   int
	orders                     int

	idFrag     []byte // `,"anonymousId":"…"[,"userId":"…"]`
	staticCtx  []byte // userAgent, locale, library, timezone [, app, device, os, screen]
	traitsFrag []byte // `,"traits":{…}` inside context for signed-in visitors
	can        *visitorCanaries
}

func (g *Generator) newHuman(i int, a Archetype) *visitor {
	r := g.r
	pr := profiles[a]
	v := &visitor{idx: i, arch: a}
	v.id = uuidString(r)
	x := r.Float64()
	switch {
	case x < pr.dev[0]:
		v.device = Desktop
	case x < pr.dev[0]+pr.dev[1]:
		v.device = Mobile
	default:
		v.device = Tablet
	}
	v.locale = locales[0].tag
	y := r.Float64()
	for _, l := range locales {
		y -= l.w
		if y < 0 {
			v.locale = l.tag
			break
		}
	}
	v.p = newPerson(r, v.locale)
	if v.device != Desktop && r.Float64() < pr.app {
		v.app = true
		for {
			v.ad = pick(r, appDevices)
			if v.ad.tablet == (v.device == Tablet) {
				break
			}
		}
		v.ua = appUA(v.ad)
		v.deviceID = uuidString(r)
		v.adID = uuidString(r)
		if v.ad.ios {
			v.adID = strings.ToUpper(v.adID) // IDFA style
			v.deviceName = v.p.first + "'s " + v.ad.marketing
		} else {
			v.deviceName = v.ad.marketing
		}
	} else {
		switch v.device {
		case Desktop:
			v.ua = pickUA(r, desktopUAs)
		case Mobile:
			v.ua = pickUA(r, mobileUAs)
		default:
			v.ua = pickUA(r, tabletUAs)
		}
	}
	v.ipv6 = r.Float64() < 0.35
	v.ip = g.makeIP(v)
	// Category preference: profile focus, else a personal random taste.
	var w [numCats]float64
	if pr.focus != nil {
		rest := 1.0
		for _, f := range pr.focus {
			rest -= f
		}
		for c := uint8(0); c < numCats; c++ {
			if f, ok := pr.focus[c]; ok {
				w[c] = f
			} else {
				w[c] = rest / float64(int(numCats)-len(pr.focus))
			}
		}
	} else {
		for c := range w {
			u := r.Float64()
			w[c] = 0.3 + 3*u*u*u
		}
	}
	s := 0.0
	for c := range w {
		s += w[c]
		v.catCum[c] = s
	}
	v.ctxTraits = v.app || r.Float64() < 0.3
	if g.can != nil {
		g.can.visitor(v)
	}
	if r.Float64() < pr.signedIn {
		v.userID = g.newUserID(v)
		v.signedIn = true
	}
	g.buildVisitorFrags(v)
	return v
}

func (g *Generator) newUserID(v *visitor) string {
	if v.can != nil {
		return v.can.userID
	}
	if g.r.Float64() < 0.3 {
		return v.p.email
	}
	return "cust-" + strconv.Itoa(1000000 + g.r.IntN(9000000))[1:]
}

func (g *Generator) makeIP(v *visitor) string {
	var ip string
	if v.ipv6 {
		ip = makeIPv6(g.r)
	} else {
		ip = makeIPv4(g.r, v.device != Desktop)
	}
	if g.can != nil {
		ip = g.can.ip(v.ipv6)
	}
	return ip
}

func (g *Generator) signIn(v *visitor) {
	if v.signedIn || v.bot != nil {
		return
	}
	v.signedIn = true
	if v.userID == "" {
		v.userID = g.newUserID(v)
	}
	g.buildVisitorFrags(v)
}

func (g *Generator) pickCat(v *visitor) uint8 {
	x := g.r.Float64() * v.catCum[numCats-1]
	for c := uint8(0); c < numCats; c++ {
		if x < v.catCum[c] {
			return c
		}
	}
	return numCats - 1
}

func (g *Generator) buildVisitorFrags(v *visitor) {
	b := v.idFrag[:0]
	b = appendKV(b, "anonymousId", v.id)
	if v.signedIn {
		b = appendKV(b, "userId", v.userID)
	}
	v.idFrag = b

	b = v.staticCtx[:0]
	b = appendKV(b, "userAgent", v.ua)
	b = appendKV(b, "locale", v.locale)
	if v.app {
		if v.ad.ios {
			b = append(b, `,"library":{"name":"analytics-swift","version":"1.7.3"}`...)
		} else {
			b = append(b, `,"library":{"name":"analytics-kotlin","version":"1.19.1"}`...)
		}
		b = append(b, `,"timezone":"Europe/Amsterdam","app":{"name":"`+appName+`","version":"`+appVersion+`","build":"`+appBuild+`","namespace":"`+appNamespace+`"}`...)
		b = append(b, `,"device":{`...)
		b = appendFirstKV(b, "id", v.deviceID)
		b = appendKV(b, "advertisingId", v.adID)
		b = append(b, `,"adTrackingEnabled":true`...)
		b = appendKV(b, "type", v.device.String())
		b = appendKV(b, "manufacturer", v.ad.manufacturer)
		b = appendKV(b, "model", v.ad.model)
		b = appendKV(b, "name", v.deviceName)
		b = append(b, '}')
		if v.ad.ios {
			b = append(b, `,"os":{"name":"iOS","version":"`...)
		} else {
			b = append(b, `,"os":{"name":"Android","version":"`...)
		}
		b = append(b, v.ad.osVersion...)
		b = append(b, `"}`...)
		if v.device == Tablet {
			b = append(b, `,"screen":{"width":820,"height":1180,"density":2}`...)
		} else {
			b = append(b, `,"screen":{"width":393,"height":852,"density":3}`...)
		}
	} else {
		b = append(b, `,"library":{"name":"analytics.js","version":"next-1.77.0"},"timezone":"Europe/Amsterdam"`...)
	}
	v.staticCtx = b

	b = v.traitsFrag[:0]
	if v.signedIn && v.ctxTraits {
		b = append(b, `,"traits":{`...)
		b = appendFirstKV(b, "email", v.p.email)
		b = appendKV(b, "name", v.p.fullName())
		b = append(b, '}')
	}
	v.traitsFrag = b
}

// newBot creates bot identity i of n; kinds are assigned by quantile so the bot
// population matches the kind weights exactly.
func (g *Generator) newBot(i, n int) *visitor {
	r := g.r
	x := (float64(i%n) + 0.5) / float64(n)
	k := &botKinds[len(botKinds)-1]
	for j := range botKinds {
		x -= botKinds[j].w
		if x < 0 {
			k = &botKinds[j]
			break
		}
	}
	v := &visitor{idx: i, arch: Bot, bot: k, id: "bot-" + k.name + "-" + strconv.Itoa(i), ua: k.ua, device: Desktop}
	pfx := pick(r, k.v4)
	v.ip = strconv.Itoa(pfx[0]) + "." + strconv.Itoa(pfx[1]) + "." + strconv.Itoa(r.IntN(256)) + "." + strconv.Itoa(1+r.IntN(254))
	if g.can != nil {
		v.ip = g.can.ip(false)
	}
	b := appendKV(nil, "userAgent", v.ua)
	switch {
	case k.name == "googlebot" || k.name == "googlebot-desktop" || k.name == "bingbot":
		b = append(b, `,"locale":"en-US","library":{"name":"analytics.js","version":"next-1.77.0"}`...)
	case k.js:
		b = append(b, `,"locale":"en-US","library":{"name":"analytics.js","version":"next-1.77.0"},"timezone":"UTC"`...)
	default:
		b = append(b, `,"library":{"name":"analytics-node","version":"2.2.1"}`...)
	}
	v.staticCtx = b
	return v
}
