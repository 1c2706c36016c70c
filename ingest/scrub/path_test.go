package scrub

import "testing"

func TestPath(t *testing.T) {
	for _, c := range []struct {
		in, want string
		kind     Kind
	}{
		{"", "/", 0},
		{"/", "/", 0},
		{"/products/electronics/iphone-15-pro", "/products/electronics/iphone-15-pro", 0},
		{"/users/12345/orders/987654", "/users/:id/orders/:id", Number},
		{"/blog/2024/05/my-post", "/blog/:id/05/my-post", Number},
		{"/p/size-42", "/p/size-42", 0},
		{"/order/ORD-2024-118822", "/order/:id", Number},
		{"/u/john.doe@example.com/profile", "/u/:email/profile", Email},
		{"/u/john.doe%40example.com/profile", "/u/:email/profile", Email},
		{"/u/john.doe%2540example.com", "/u/:email", Email | Token}, // "40example" is a mixed word too
		{"/unsubscribe/JOHN%40EXAMPLE.COM?x=1", "/unsubscribe/:email", Email},
		{"/item/123e4567-e89b-12d3-a456-426614174000/edit", "/item/:uuid/edit", UUID},
		{"/reset/d41d8cd98f00b204e9800998ecf8427e", "/reset/:token", Token},
		{"/s/Ab3dEf7hIjK9Lm", "/s/:token", Token},
		{"/s/a8f3k2", "/s/:token", Token},
		{"/p/iphone15", "/p/:token", Token}, // mixed letters and digits, 6+: documented false positive
		{"/p/ps5", "/p/ps5", 0},
		{"/cart;jsessionid=ABC123DEF456GHI789", "/cart", 0},
		{"/a;x=1/b;y=2", "/a/b", 0},
		{"//double//slashes///", "/double/slashes", 0},
		{"/a/./b/../c/", "/a/c", 0},
		{"/../../etc/passwd", "/etc/passwd", 0},
		{"/a/%2E%2E/b", "/b", 0},
		{"/search#frag", "/search", 0},
		{"/x?q=1#y", "/x", 0},
		{"https://shop.example.com/p/12345?utm_source=x", "/p/:id", Number},
		{"https://shop.example.com", "/", 0},
		{"/caf%C3%A9/men%C3%BA", "/café/menú", 0},
		{"/café", "/café", 0},
		{"/a%2Fb", "/a%2Fb", 0},
		{"/a%2fb", "/a%2Fb", 0},
		{"/50%-off", "/50%25-off", 0},
		{"/q%3Fx%23y%3Bz", "/q%3Fx%23y%3Bz", 0},
		{"/bad%ff%fe", "/bad%FF%FE", 0},
		{"/with space", "/with%20space", 0},
		{"/call/+31612345678", "/call/:phone", Phone},
		{"/call/%2B31%206%2012345678", "/call/:phone", Phone},
		{"/iban/NL91ABNA0417164300", "/iban/:iban", IBAN},
		{"/ip/192.168.1.1", "/ip/:ip", IPv4},
		{"/auth/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "/auth/:jwt", JWT},
		{"/nl/nl-nl/c/heren/schoenen/sneakers", "/nl/nl-nl/c/heren/schoenen/sneakers", 0},
		{"/product/Nike-Air-Max-90-Essential", "/product/Nike-Air-Max-90-Essential", 0},
	} {
		got, k := def.Path(c.in)
		if got != c.want || k != c.kind {
			t.Errorf("Path(%q) = %q, %v; want %q, %v", c.in, got, k, c.want, c.kind)
		}
	}
}

func TestQuery(t *testing.T) {
	for _, c := range []struct {
		in, want string
		kind     Kind
	}{
		{"", "", 0},
		{"utm_source=newsletter", "utm_source=newsletter", 0},
		{"?utm_source=newsletter", "utm_source=newsletter", 0},
		{"utm_source=newsletter&utm_medium=email&gclid=Cj0KCQiA4NWrBhD", "utm_medium=email&utm_source=newsletter", 0},
		{"utm_medium=email&utm_source=newsletter", "utm_medium=email&utm_source=newsletter", 0},
		{"UTM_Campaign=spring+sale&ref=home", "ref=home&utm_campaign=spring+sale", 0},
		{"ref=jan%40example.nl&utm_source=x", "ref=%5Bemail%5D&utm_source=x", Email},
		{"utm_content=bel%20%2B31%206%2012345678", "utm_content=%5Bphone%5D", Phone},
		{"source=a;gclid=abc;utm_term=b", "source=a&utm_term=b", 0},
		{"email=jan@example.nl&fbclid=IwAR3x&sid=abc", "", 0},
		{"utm_jan@example.nl=1", "", 0}, // not a key name: dropped unread
		{"utm_0612345678=1", "", Phone},
		{"utm_x%20y=1", "", 0},
		{"ref&utm_source=", "ref=&utm_source=", 0},
		{"utm_source=a&utm_source=b", "utm_source=a&utm_source=b", 0},
		{"utm_source=%zz", "utm_source=%25zz", 0},
		{"utm_source=news#frag", "utm_source=news", 0},
		{"utm_term=caf%C3%A9", "utm_term=caf%C3%A9", 0},
	} {
		got, k := def.Query(c.in)
		if got != c.want || k != c.kind {
			t.Errorf("Query(%q) = %q, %v; want %q, %v", c.in, got, k, c.want, c.kind)
		}
	}
	s := MustNew(Options{QueryAllow: []string{"q", "page", "lang*"}})
	ps, k := s.QueryParams(nil, "page=2&q=jan%40example.nl&Lang_x=nl&utm_source=x")
	want := []Param{{"lang_x", "nl"}, {"page", "2"}, {"q", "[email]"}}
	if k != Email || len(ps) != len(want) {
		t.Fatalf("QueryParams = %v, %v", ps, k)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("QueryParams[%d] = %v; want %v", i, ps[i], want[i])
		}
	}
	if q, _ := MustNew(Options{QueryAllow: []string{}}).Query("utm_source=x"); q != "" {
		t.Errorf("empty allowlist kept %q", q)
	}
}

func TestRegistrableDomain(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://www.Google.co.uk/search?q=jan@example.nl", "google.co.uk"},
		{"https://www.google.com/", "google.com"},
		{"http://m.facebook.com/l.php?u=x", "facebook.com"},
		{"https://news.ycombinator.com", "ycombinator.com"},
		{"https://user:pw@shop.example.nl:443/x", "example.nl"},
		{"https://alice.github.io/cv", "github.io"},
		{"https://foo.bar.blogspot.co.uk/", "blogspot.co.uk"},
		{"https://bücher.de/x", "xn--bcher-kva.de"},
		{"HTTPS://WWW.EXAMPLE.COM./", "example.com"},
		{"www.example.com/x", "example.com"},
		{"//cdn.example.org/x", "example.org"},
		{"https://example.com\\@evil.com", "example.com"},
		{"http://192.168.1.1/", ""},
		{"http://[::1]:8080/", ""},
		{"http://localhost:8080", ""},
		{"http://app.localhost/", ""},
		{"http://intranet/", ""},
		{"http://server.corp/", ""},
		{"https://co.uk/", ""},
		{"android-app://com.google.android.gm/", ""},
		{"javascript:alert(1)", ""},
		{"", ""},
		{"garbage with spaces", ""},
		{"https://-bad-.com/", ""},
		{"https://a..b.com/", ""},
		{"https://exa_mple.com/", ""},
	} {
		if got := RegistrableDomain(c.in); got != c.want {
			t.Errorf("RegistrableDomain(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
