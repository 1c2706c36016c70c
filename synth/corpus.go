package synth

import (
	"net/url"
	"strings"
	"time"
)

// RawSample is one hand-written raw event of the canary corpus.
type RawSample struct {
	Name  string // what the sample exercises
	Key   []byte // record key (anonymousId) or nil
	Value []byte
	Bad   BadKind // Valid, or the defect (a DLQ record must not leak its canaries either)
}

// CanaryRaw returns a small fixed corpus of realistic raw events, written by hand, with
// canary identifiers in every field of the raw shape and in the places where
// identifiers hide in practice: nested properties, URL path, query and fragment,
// referrer, title, search terms, event and page names, campaign fields and utm values,
// the user agent, a cookie header, X-Forwarded-For, JWTs, JSON \u escapes, URL
// encoding, base64 and upper case. Timestamps lie in the minute before now. The
// canaries are the same on every call (fixed seed); every one of them occurs in at
// least one sample (as its Value or one of its Variants). Three samples are bad
// events (truncated, invalid UTF-8, not JSON) that still carry canaries.
func CanaryRaw(now time.Time) ([]RawSample, []Canary) {
	f := newCanaryFactory(0xC0FFEE)
	f.n = 900000
	v := map[string]string{}
	set := func(k, val string) { v[k] = val }
	set("E1", f.email())
	set("E2", f.email())
	set("E3", f.email())
	set("E4", f.email())
	set("FIRST", f.name("Zyxwq"))
	set("LAST", f.name("Vrakz"))
	set("FIRST2", f.name("Zyxwq"))
	set("LAST2", f.name("Vrakz"))
	f.add("name", v["FIRST"]+" "+v["LAST"])
	f.add("name", v["FIRST2"]+" "+v["LAST2"])
	set("PHONE", f.phone())
	set("PHONE2", f.phone())
	set("ANON", f.uuid())
	set("ANON2", f.uuid())
	set("ANON3", f.uuid())
	set("DEVICE", f.uuid())
	set("ADID", strings.ToUpper(f.uuid()))
	set("CART", f.uuid())
	set("USERID", f.userID())
	set("IPV4", f.ip(false))
	set("IPV4B", f.ip(false))
	set("IPV6", f.ip(true))
	set("IPV6B", f.ip(true))
	set("IBAN", f.iban())
	set("IBAN2", f.iban())
	set("CARD", f.card())
	set("BSN", f.bsn())
	set("BSN2", f.bsn())
	set("POSTCODE", f.postcode())
	set("ORDER", f.order())
	set("TOKEN", f.token(32, hexLower))
	set("JSESSION", f.token(32, hexUpper))
	set("FRAGTOKEN", f.token(40, alnum))
	set("GCLID", f.add("click_id", "Cj0KCQ"+randToken(f.r, 60, b64url)+"_BwE"))
	set("FBCLID", f.add("click_id", "IwAR"+randToken(f.r, 50, b64url)))
	set("MSCLKID", f.add("click_id", randToken(f.r, 32, hexLower)))
	set("GA", f.add("cookie", "GA1.1.1938475610.1718000001"))
	set("JWT", f.add("jwt", jwtLike(f.r, v["E1"])))
	for _, k := range []string{"E1", "E2", "E3", "E4", "FIRST", "LAST"} {
		set(k+"_URL", url.QueryEscape(v[k]))
		set(k+"_B64", b64std(v[k]))
		set(k+"_B64URL", b64raw(v[k]))
		set(k+"_UPPER", strings.ToUpper(v[k]))
		set(k+"_ESC", strings.ReplaceAll(v[k], "@", `\u0040`))
		set(k+"_ESCALL", jsonEscapeAll(v[k]))
	}
	set("PHONE_DIGITS", "0"+strings.ReplaceAll(v["PHONE"], " ", "")[3:])
	set("PHONE_LOCAL", "06-"+strings.ReplaceAll(v["PHONE"], " ", "")[4:])
	set("PHONE2_INTL", strings.ReplaceAll(v["PHONE2"], " ", ""))
	set("IBAN_GROUPED", group4(v["IBAN"]))
	set("CARD_GROUPED", group4(v["CARD"]))
	set("POSTCODE_NOSPACE", strings.ReplaceAll(v["POSTCODE"], " ", ""))
	set("ADID_LOWER", strings.ToLower(v["ADID"]))
	set("ANON_HEX", strings.ReplaceAll(v["ANON"], "-", ""))

	ts := func(sec int) string {
		return string(appendTime(nil, now.Add(time.Duration(sec-60)*time.Second).UnixNano()/1e6*1e6))
	}
	for i := 0; i < 20; i++ {
		v["TS"+itoa(i)] = ts(i * 3)
		v["SENT"+itoa(i)] = ts(i*3 + 1)
	}
	var pairs []string
	for k, val := range v {
		pairs = append(pairs, "{{"+k+"}}", val)
	}
	rep := strings.NewReplacer(pairs...)

	webCtx := `"ip":"{{IPV4}}","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36","locale":"nl-NL","library":{"name":"analytics.js","version":"next-1.77.0"},"timezone":"Europe/Amsterdam"`
	u1 := `https://www.shop.example.com/p/sony-wireless-headphones-black-4821937;jsessionid={{JSESSION}}?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale&utm_term={{E1_URL}}&utm_content={{FIRST}}&email={{E1_URL}}&token={{TOKEN}}&gclid={{GCLID}}&uid={{USERID}}#access_token={{FRAGTOKEN}}`
	s1 := `?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale&utm_term={{E1_URL}}&utm_content={{FIRST}}&email={{E1_URL}}&token={{TOKEN}}&gclid={{GCLID}}&uid={{USERID}}`
	ref1 := `https://outlook.live.com/mail/0/inbox?login_hint={{E2_URL}}&sid={{TOKEN}}`
	page1 := `"path":"/p/sony-wireless-headphones-black-4821937;jsessionid={{JSESSION}}","referrer":"` + ref1 + `","search":"` + s1 + `","title":"Sony Wireless Headphones – Welcome back, {{FIRST}} | Shop","url":"` + u1 + `"`

	samples := []RawSample{
		{Name: "page: identifiers in path (jsessionid), query (email, token, gclid, uid, utm_term, utm_content), fragment, referrer (webmail login_hint), title, campaign, context.traits", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"page","name":"Product","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e01","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS0}}","sentAt":"{{SENT0}}","context":{` + webCtx + `,"page":{` + page1 + `},"campaign":{"name":"spring-sale","source":"newsletter","medium":"email","term":"{{E1}}","content":"{{FIRST}} {{LAST}}"},"traits":{"email":"{{E1}}","name":"{{FIRST}} {{LAST}}"}},"properties":{` + page1 + `,"category":"electronics"}}`)},

		{Name: "track Product Viewed: nested properties, arrays, free-text note with phone/IBAN/BSN/card/postcode, IPv6", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"track","event":"Product Viewed","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e02","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS1}}","sentAt":"{{SENT1}}","context":{"ip":"{{IPV6}}","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15","locale":"nl-NL","library":{"name":"analytics.js","version":"next-1.77.0"},"page":{"path":"/p/sony-wireless-headphones-black-4821937","referrer":"https://www.shop.example.com/search?q={{FIRST}}+{{LAST}}","search":"","title":"Sony Wireless Headphones Black | Shop","url":"https://www.shop.example.com/p/sony-wireless-headphones-black-4821937"}},"properties":{"product_id":"4821937","sku":"ELE-SON-21937-BL","category":"electronics","name":"Sony Wireless Headphones Black","brand":"Sony","price":129.99,"currency":"EUR","customer":{"contact":{"email":"{{E1}}","phone":"{{PHONE}}","alt":[{"type":"work","email":"{{E4}}"},{"type":"mobile","phone":"{{PHONE2_INTL}}"}]},"ids":["{{ANON}}","{{USERID}}","{{DEVICE}}"],"address":{"line1":"Keizersgracht 123","postcode":"{{POSTCODE}}","city":"Amsterdam"}},"note":"Bel me op {{PHONE_LOCAL}} of mail {{E1}}. IBAN {{IBAN_GROUPED}}, BSN {{BSN}}, kaart {{CARD_GROUPED}}. Adres: Keizersgracht 123, {{POSTCODE_NOSPACE}} Amsterdam. Groet, {{FIRST}} {{LAST}}"}}`)},

		{Name: "identify: full traits (e-mail, names, phone, address with postcode, birthday, BSN, IBAN), device ids in context", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"identify","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e03","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS2}}","sentAt":"{{SENT2}}","context":{` + webCtx + `,"page":{"path":"/account/register","referrer":"https://www.shop.example.com/cart","search":"","title":"Create an account | Shop","url":"https://www.shop.example.com/account/register"}},"traits":{"email":"{{E1}}","firstName":"{{FIRST}}","lastName":"{{LAST}}","name":"{{FIRST}} {{LAST}}","phone":"{{PHONE}}","address":{"street":"Keizersgracht 123","postalCode":"{{POSTCODE}}","city":"Amsterdam","country":"NL"},"birthday":"1987-04-12","bsn":"{{BSN2}}","iban":"{{IBAN2}}","createdAt":"{{TS2}}"}}`)},

		{Name: "track Signed Up: PII in properties and context.traits; userId is an e-mail address", Key: []byte("{{ANON3}}"), Value: []byte(`{"type":"track","event":"Signed Up","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e04","anonymousId":"{{ANON3}}","userId":"{{E3}}","timestamp":"{{TS3}}","sentAt":"{{SENT3}}","context":{"ip":"{{IPV4B}}","userAgent":"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Mobile Safari/537.36","locale":"nl-NL","library":{"name":"analytics.js","version":"next-1.77.0"},"page":{"path":"/account/register","referrer":"https://www.shop.example.com/account/login?email={{E3_URL}}&returnUrl=%2Fcheckout","search":"","title":"Create an account | Shop","url":"https://www.shop.example.com/account/register"},"traits":{"email":"{{E3}}","firstName":"{{FIRST2}}","lastName":"{{LAST2}}","phone":"{{PHONE2}}"}},"properties":{"method":"email","email":"{{E3}}","first_name":"{{FIRST2}}","last_name":"{{LAST2}}","phone":"{{PHONE2}}"}}`)},

		{Name: "track Order Completed: order number, IBAN, card number, billing address, coupon, products[]", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"track","event":"Order Completed","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e05","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS4}}","sentAt":"{{SENT4}}","context":{` + webCtx + `,"page":{"path":"/checkout/payment;jsessionid={{JSESSION}}","referrer":"https://www.shop.example.com/cart","search":"?token={{TOKEN}}","title":"Checkout | Shop","url":"https://www.shop.example.com/checkout/payment;jsessionid={{JSESSION}}?token={{TOKEN}}"}},"properties":{"order_id":"{{ORDER}}","checkout_id":"{{CART}}","total":134.94,"revenue":107.43,"shipping":4.95,"tax":22.56,"currency":"EUR","coupon":"SPRING10","payment_method":"sepa_direct_debit","iban":"{{IBAN}}","account_holder":"{{FIRST}} {{LAST}}","card_number":"{{CARD}}","billing":{"name":"{{FIRST}} {{LAST}}","street":"Keizersgracht 123","postcode":"{{POSTCODE}}","phone":"{{PHONE_DIGITS}}"},"products":[{"product_id":"4821937","sku":"ELE-SON-21937-BL","category":"electronics","name":"Sony Wireless Headphones Black","brand":"Sony","price":129.99,"quantity":1,"position":1,"gift_message":"Voor {{FIRST2}}, van {{FIRST}}"}]}}`)},

		{Name: "screen (app): device.id, advertisingId (IDFA), device name with first name, app user agent with name, IPv6", Key: []byte("{{ANON2}}"), Value: []byte(`{"type":"screen","name":"Product","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e06","anonymousId":"{{ANON2}}","userId":"{{USERID}}","timestamp":"{{TS5}}","sentAt":"{{SENT5}}","context":{"ip":"{{IPV6B}}","userAgent":"Shop/5.14.2 (com.example.shop; build:51420; iOS 18.2.1) Alamofire/5.10.2 ({{FIRST2}}'s iPhone)","locale":"nl-NL","library":{"name":"analytics-swift","version":"1.7.3"},"timezone":"Europe/Amsterdam","app":{"name":"Shop","version":"5.14.2","build":"51420","namespace":"com.example.shop"},"device":{"id":"{{DEVICE}}","advertisingId":"{{ADID}}","adTrackingEnabled":true,"type":"mobile","manufacturer":"Apple","model":"iPhone16,2","name":"{{FIRST2}}'s iPhone"},"os":{"name":"iOS","version":"18.2.1"},"network":{"wifi":false,"cellular":true,"carrier":"KPN"},"campaign":{"name":"black-friday","source":"facebook","medium":"social","content":"{{FIRST2}} {{LAST2}}"},"traits":{"email":"{{E4}}"}},"properties":{"name":"Product","product_id":"4821937","category":"electronics","deep_link":"shopapp://p/4821937?fbclid={{FBCLID}}&idfa={{ADID_LOWER}}"}}`)},

		{Name: "track with a custom event name carrying an e-mail; cookie header, base64, \\u0040 escape, upper case, JWT, X-Forwarded-For", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"track","event":"Wishlist Shared With {{E2}}","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e07","anonymousId":"{{ANON}}","timestamp":"{{TS6}}","sentAt":"{{SENT6}}","context":{` + webCtx + `,"page":{"path":"/account/u/{{E1}}/wishlist","referrer":"https://www.shop.example.com/account","search":"?u={{E1_B64URL}}","title":"Wishlist of {{FIRST_UPPER}} {{LAST_UPPER}} | Shop","url":"https://www.shop.example.com/account/u/{{E1}}/wishlist?u={{E1_B64URL}}"}},"properties":{"channel":"whatsapp","cookie":"_ga={{GA}}; sid={{TOKEN}}; em={{E1_URL}}; uid={{ANON_HEX}}","ref_b64":"{{E2_B64}}","contact_escaped":"{{E2_ESC}}","email_upper":"{{E2_UPPER}}","auth":"Bearer {{JWT}}","x_forwarded_for":"{{IPV4B}}, {{IPV6}}, 10.12.0.7","msclkid":"{{MSCLKID}}"}}`)},

		{Name: "page Search: name, phone and e-mail in the search term, title and URL", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"page","name":"Search","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e08","anonymousId":"{{ANON}}","timestamp":"{{TS7}}","sentAt":"{{SENT7}}","context":{` + webCtx + `,"page":{"path":"/search","referrer":"https://www.shop.example.com/","search":"?q=cadeau+voor+{{FIRST}}+{{LAST}}+{{PHONE_LOCAL}}+{{E4_URL}}","title":"Search results for “cadeau voor {{FIRST}} {{LAST}} {{PHONE_LOCAL}} {{E4}}” | Shop","url":"https://www.shop.example.com/search?q=cadeau+voor+{{FIRST}}+{{LAST}}+{{PHONE_LOCAL}}+{{E4_URL}}"}},"properties":{"path":"/search","search":"?q=cadeau+voor+{{FIRST}}+{{LAST}}+{{PHONE_LOCAL}}+{{E4_URL}}","query":"cadeau voor {{FIRST}} {{LAST}} {{PHONE_LOCAL}} {{E4}}"}}`)},

		{Name: "track Products Searched: BSN and e-mail as the query", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"track","event":"Products Searched","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e09","anonymousId":"{{ANON}}","timestamp":"{{TS8}}","sentAt":"{{SENT8}}","context":{` + webCtx + `,"page":{"path":"/search","referrer":"https://www.shop.example.com/search","search":"?q={{BSN}}","title":"Search results for “{{BSN}}” | Shop","url":"https://www.shop.example.com/search?q={{BSN}}"}},"properties":{"query":"{{BSN}} {{E3}}"}}`)},

		{Name: "page Account: order number in the path, jsessionid, e-mail in referrer and title", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"page","name":"Account","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e10","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS9}}","sentAt":"{{SENT9}}","context":{` + webCtx + `,"page":{"path":"/account/orders/{{ORDER}};jsessionid={{JSESSION}}","referrer":"https://mail.google.com/mail/u/0/?authuser={{E1_URL}}#inbox","search":"?status=paid","title":"Thank you for your order, {{FIRST}}! ({{E1}}) | Shop","url":"https://www.shop.example.com/account/orders/{{ORDER}};jsessionid={{JSESSION}}?status=paid"}},"properties":{"path":"/account/orders/{{ORDER}};jsessionid={{JSESSION}}","referrer":"https://mail.google.com/mail/u/0/?authuser={{E1_URL}}#inbox","title":"Thank you for your order, {{FIRST}}! ({{E1}}) | Shop","url":"https://www.shop.example.com/account/orders/{{ORDER}};jsessionid={{JSESSION}}?status=paid"}}`)},

		{Name: "track Newsletter Subscribed: name and e-mail fully \\u-escaped in JSON", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"track","event":"Newsletter Subscribed","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e11","anonymousId":"{{ANON}}","timestamp":"{{TS10}}","sentAt":"{{SENT10}}","context":{` + webCtx + `,"page":{"path":"/","referrer":"","search":"","title":"Shop","url":"https://www.shop.example.com/"}},"properties":{"email":"{{E1_ESCALL}}","name":"{{FIRST_ESCALL}} {{LAST_ESCALL}}","list":"weekly-deals","source":"footer"}}`)},

		{Name: "page from campaign with bing click id and msclkid, IPv4 in a property, page name from document.title with a name", Key: []byte("{{ANON}}"), Value: []byte(`{"type":"page","name":"Welcome {{FIRST}} {{LAST}}","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e12","anonymousId":"{{ANON}}","timestamp":"{{TS11}}","sentAt":"{{SENT11}}","context":{` + webCtx + `,"page":{"path":"/deals","referrer":"https://www.bing.com/","search":"?utm_source=bing&utm_medium=cpc&utm_campaign=black-friday&utm_term={{LAST}}&msclkid={{MSCLKID}}","title":"Deals | Shop","url":"https://www.shop.example.com/deals?utm_source=bing&utm_medium=cpc&utm_campaign=black-friday&utm_term={{LAST}}&msclkid={{MSCLKID}}"},"campaign":{"name":"black-friday","source":"bing","medium":"cpc","term":"{{LAST}}"}},"properties":{"client_ip":"{{IPV4B}}","visitor":"{{ANON_HEX}}"}}`)},

		{Name: "bad: truncated payload with canaries", Key: []byte("{{ANON}}"), Bad: BadTruncated, Value: []byte(`{"type":"identify","messageId":"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e13","anonymousId":"{{ANON}}","userId":"{{USERID}}","timestamp":"{{TS12}}","traits":{"email":"{{E1}}","phone":"{{PHONE}}","iban":"{{IBAN}}","name":"{{FIRST}} {{LAST}}","addr`)},

		{Name: "bad: invalid UTF-8 (Latin-1 bytes) next to canaries", Key: []byte("{{ANON}}"), Bad: BadInvalidUTF8, Value: []byte("{\"type\":\"track\",\"event\":\"Signed In\",\"messageId\":\"7d1c2f0a-5b9e-4c11-9f5e-0a1b2c3d4e14\",\"anonymousId\":\"{{ANON}}\",\"timestamp\":\"{{TS13}}\",\"context\":{\"ip\":\"{{IPV4}}\"},\"properties\":{\"username\":\"{{E1}}\",\"name\":\"{{FIRST}} M\xfcller caf\xe9\"}}")},

		{Name: "bad: form-encoded body instead of JSON, with canaries", Key: nil, Bad: BadNotJSON, Value: []byte(`type=identify&anonymousId={{ANON}}&email={{E1_URL}}&phone={{PHONE_DIGITS}}&card={{CARD}}`)},
	}
	for i := range samples {
		samples[i].Value = []byte(rep.Replace(string(samples[i].Value)))
		if samples[i].Key != nil {
			samples[i].Key = []byte(rep.Replace(string(samples[i].Key)))
		}
	}
	return samples, append([]Canary(nil), f.list...)
}
