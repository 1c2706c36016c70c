package synth

import (
	"math/rand/v2"
	"strings"
)

// User agents as current browsers send them (client hints era: Chrome reports
// "Chrome/<major>.0.0.0"). {C} = Chrome major, {F} = Firefox major, {S} = Safari
// version, {I} = iOS version with underscores, {A} = Android version, {E} = Edge build.

type uaTmpl struct {
	t string
	w float64
}

var desktopUAs = []uaTmpl{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36", 0.38},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36", 0.14},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36 Edg/{C}.0.{E}", 0.14},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{F}.0) Gecko/20100101 Firefox/{F}.0", 0.10},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:{F}.0) Gecko/20100101 Firefox/{F}.0", 0.03},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{S} Safari/605.1.15", 0.15},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:{F}.0) Gecko/20100101 Firefox/{F}.0", 0.03},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36", 0.03},
}

var mobileUAs = []uaTmpl{
	{"Mozilla/5.0 (iPhone; CPU iPhone OS {I} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{S} Mobile/15E148 Safari/604.1", 0.42},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Mobile Safari/537.36", 0.30},
	{"Mozilla/5.0 (Linux; Android {A}; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36", 0.09},
	{"Mozilla/5.0 (Linux; Android {A}; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{C}.0.6778.135 Mobile Safari/537.36", 0.06},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS {I} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/{C}.0.6778.103 Mobile/15E148 Safari/604.1", 0.06},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS {I} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22C152 Instagram 361.0.0.35.82 (iPhone15,4; iOS {I}; nl_NL; nl; scale=3.00; 1179x2556; 670283423)", 0.04},
	{"Mozilla/5.0 (Android {A}; Mobile; rv:{F}.0) Gecko/{F}.0 Firefox/{F}.0", 0.03},
}

var tabletUAs = []uaTmpl{
	{"Mozilla/5.0 (iPad; CPU OS {I} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{S} Mobile/15E148 Safari/604.1", 0.6},
	{"Mozilla/5.0 (Linux; Android {A}; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36", 0.3},
	{"Mozilla/5.0 (Linux; Android {A}; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{C}.0.0.0 Safari/537.36", 0.1},
}

var (
	chromeMajors  = []string{"129", "130", "131", "132", "133", "134"}
	firefoxMajors = []string{"131", "132", "133", "134", "135"}
	safariVers    = []string{"17.6", "18.1", "18.2", "18.3", "18.1.1"}
	iosVers       = []string{"17_6_1", "18_1", "18_1_1", "18_2", "18_3"}
	androidVers   = []string{"13", "14", "14", "15"}
	edgeBuilds    = []string{"2903.86", "2957.127", "3065.59", "2849.80"}
)

func pickUA(r *rand.Rand, list []uaTmpl) string {
	x := r.Float64()
	var t string
	for _, u := range list {
		x -= u.w
		t = u.t
		if x < 0 {
			break
		}
	}
	return fillUA(r, t)
}

func fillUA(r *rand.Rand, t string) string {
	i := r.IntN(len(iosVers))
	var b strings.Builder
	for {
		j := strings.IndexByte(t, '{')
		if j < 0 || j+2 >= len(t) {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:j])
		switch t[j+1] {
		case 'C':
			b.WriteString(pick(r, chromeMajors))
		case 'F':
			b.WriteString(pick(r, firefoxMajors))
		case 'S':
			b.WriteString(safariVers[min(i, len(safariVers)-1)])
		case 'I':
			b.WriteString(iosVers[i])
		case 'A':
			b.WriteString(pick(r, androidVers))
		case 'E':
			b.WriteString(pick(r, edgeBuilds))
		}
		t = t[j+3:]
	}
}

// App devices (Segment mobile libraries send context.device / os / app).
type appDevice struct {
	ios          bool
	manufacturer string
	model        string // model identifier as the OS reports it
	marketing    string // for the default device name
	osVersion    string
	tablet       bool
}

var appDevices = []appDevice{
	{true, "Apple", "iPhone16,2", "iPhone", "18.2.1", false},
	{true, "Apple", "iPhone15,4", "iPhone", "18.1", false},
	{true, "Apple", "iPhone14,7", "iPhone", "17.6.1", false},
	{true, "Apple", "iPhone17,1", "iPhone", "18.3", false},
	{true, "Apple", "iPad13,18", "iPad", "18.2", true},
	{false, "samsung", "SM-S921B", "Galaxy S24", "14", false},
	{false, "samsung", "SM-A546B", "Galaxy A54 5G", "14", false},
	{false, "Google", "Pixel 8", "Pixel 8", "15", false},
	{false, "Google", "Pixel 7a", "Pixel 7a", "14", false},
	{false, "OnePlus", "CPH2581", "OnePlus 12", "14", false},
	{false, "samsung", "SM-X710", "Galaxy Tab S9", "14", true},
}

const (
	appName      = "Shop"
	appVersion   = "5.14.2"
	appBuild     = "51420"
	appNamespace = "com.example.shop"
)

func appUA(d appDevice) string {
	if d.ios {
		return "Shop/" + appVersion + " (" + appNamespace + "; build:" + appBuild + "; iOS " + d.osVersion + ") Alamofire/5.10.2"
	}
	return "Shop/" + appVersion + " (Android " + d.osVersion + "; " + d.model + "; build " + appBuild + ") okhttp/4.12.0"
}

// Bots.
type botKind struct {
	name    string
	ua      string
	w       float64
	js      bool // renders JavaScript (client-side library) or hits the server-side tracker
	v4      [][2]int
	think   float64 // median seconds between pages
	minPgs  int
	meanPgs int
}

var botKinds = []botKind{
	{"googlebot", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.139 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.18, true, [][2]int{{66, 249}}, 2, 15, 60},
	{"googlebot-desktop", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.10, true, [][2]int{{66, 249}}, 2, 15, 60},
	{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.14, true, [][2]int{{40, 77}, {157, 55}, {207, 46}}, 3, 10, 50},
	{"ahrefsbot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 0.14, false, [][2]int{{54, 36}, {5, 39}, {51, 222}}, 1, 20, 90},
	{"curl", "curl/8.5.0", 0.10, false, [][2]int{{34, 90}, {52, 28}, {159, 89}}, 0.5, 3, 12},
	{"python-requests", "python-requests/2.32.3", 0.16, false, [][2]int{{3, 120}, {35, 180}, {167, 99}, {138, 68}}, 0.4, 5, 40},
	{"headlesschrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", 0.18, true, [][2]int{{3, 64}, {34, 141}, {18, 184}}, 1, 10, 70},
}
