package ingest

import (
	"github.com/mileusna/useragent"
)

// device is the generalised device of a User-Agent: families only.
type device struct {
	class, browser, os string
	bot                bool
}

// Browser and OS families that may be published. A parser names unknown
// clients after their first product token, which can be an app or person
// name; anything not listed here is published as "other".
var (
	browserFamilies = map[string]string{
		useragent.Chrome: "chrome", useragent.HeadlessChrome: "chrome", useragent.Safari: "safari",
		useragent.MobileSafari: "safari", useragent.Firefox: "firefox", useragent.Edge: "edge",
		useragent.Opera: "opera", useragent.OperaMini: "opera", useragent.OperaTouch: "opera",
		useragent.InternetExplorer: "ie", useragent.Vivaldi: "vivaldi", "Samsung Browser": "samsung",
		"Android browser": "android", "UCBrowser": "uc", "YaBrowser": "yandex", "Brave": "brave",
	}
	osFamilies = map[string]string{
		useragent.Windows: "windows", useragent.WindowsPhone: "windows", useragent.Android: "android",
		useragent.MacOS: "macos", useragent.IOS: "ios", useragent.Linux: "linux", useragent.ChromeOS: "chromeos",
		useragent.CrOS: "chromeos", useragent.FreeBSD: "freebsd", "iPadOS": "ios", useragent.Harmony: "harmonyos",
	}
)

// uaCache memoises User-Agent parses. Real traffic has few distinct UA
// strings and parsing costs microseconds, so a small cache removes nearly
// all of it. When full it is cleared (cheaper than LRU bookkeeping on a
// per-goroutine cache, and the working set refills in milliseconds).
type uaCache struct {
	m   map[string]device
	max int
}

func newUACache(max int) *uaCache { return &uaCache{m: make(map[string]device, max), max: max} }

func (c *uaCache) lookup(ua []byte) device {
	if len(ua) == 0 {
		return device{class: "other"}
	}
	if d, ok := c.m[string(ua)]; ok {
		return d
	}
	d := parseUA(string(ua))
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[string(ua)] = d
	return d
}

func parseUA(s string) device {
	ua := useragent.Parse(s)
	d := device{class: "other", browser: "other", os: "other", bot: ua.Bot}
	switch {
	case ua.Bot:
		d.class = "bot"
	case ua.Tablet:
		d.class = "tablet"
	case ua.Mobile:
		d.class = "mobile"
	case ua.Desktop:
		d.class = "desktop"
	}
	if f, ok := browserFamilies[ua.Name]; ok {
		d.browser = f
	}
	if f, ok := osFamilies[ua.OS]; ok {
		d.os = f
	}
	if ua.Name == useragent.HeadlessChrome {
		d.bot, d.class = true, "bot"
	}
	return d
}
