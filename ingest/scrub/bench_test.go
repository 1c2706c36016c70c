package scrub

import "testing"

// The ~10 short strings of one typical event that go through Text.
var benchClean = []string{
	"Apple iPhone 15 Pro Max 256GB Zwart | Bol.com",
	"iphone 15 hoesje",
	"Electronics > Telefoons > Smartphones",
	"Nike Air Max 90 - maat 42,5",
	"Gratis verzending vanaf € 19,99",
	"spring_sale_2024",
	"Product Viewed",
	"Bekijk onze nieuwe collectie zomerjurken",
	"Samsung Galaxy S24 Ultra 512GB Titanium Black",
	"Wat is het verschil tussen OLED en QLED?",
}

// The same, with identifiers in three of them.
var benchDirty = []string{
	"Apple iPhone 15 Pro Max 256GB Zwart | Bol.com",
	"bestelling voor jan.de.vries@example.nl",
	"Electronics > Telefoons > Smartphones",
	"Nike Air Max 90 - maat 42,5",
	"bel me op 06-12345678 of +31 20 123 4567",
	"spring_sale_2024",
	"Product Viewed",
	"reset?token=Ab3dEf7hIjK9LmN0pQrStUvWx",
	"Samsung Galaxy S24 Ultra 512GB Titanium Black",
	"Wat is het verschil tussen OLED en QLED?",
}

func benchTotalLen(ss []string) (n int64) {
	for _, s := range ss {
		n += int64(len(s))
	}
	return n
}

// BenchmarkText_clean scrubs the ~10 strings of one clean event per op.
func BenchmarkText_clean(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchTotalLen(benchClean))
	for b.Loop() {
		for _, s := range benchClean {
			def.Text(s)
		}
	}
}

// BenchmarkText_dirty scrubs the ~10 strings of one event with identifiers
// in three of them per op.
func BenchmarkText_dirty(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchTotalLen(benchDirty))
	for b.Loop() {
		for _, s := range benchDirty {
			def.Text(s)
		}
	}
}

var benchValues = []string{"newsletter", "email", "spring_sale_2024", "Product Viewed", "nl-NL", "19.99", "Nike Air Max 90", "electronics", "42", "black"}

// BenchmarkValue checks 10 typical property and campaign values per op.
func BenchmarkValue(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchTotalLen(benchValues))
	for b.Loop() {
		for _, s := range benchValues {
			def.Value(s)
		}
	}
}

var benchPaths = []string{
	"/nl/p/apple-iphone-15-pro-max-256gb-zwart/9300000162953843/",
	"/nl/c/heren/schoenen/sneakers",
	"/account/orders/12345678/details",
}

// BenchmarkPath rewrites 3 typical paths per op (one clean and canonical,
// two with id-like segments).
func BenchmarkPath(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchTotalLen(benchPaths))
	for b.Loop() {
		for _, p := range benchPaths {
			def.Path(p)
		}
	}
}

// BenchmarkPath_clean rewrites a clean canonical path.
func BenchmarkPath_clean(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		def.Path("/nl/c/heren/schoenen/sneakers")
	}
}

const benchQueryRaw = "utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2024&gclid=Cj0KCQiA4NWrBhD-ARIsAFCKwWtZ8cO9Xq2l1y3pQmF2EaAhYxEALw_wcB&fbclid=IwAR3xQ"

// BenchmarkQuery filters a typical campaign landing query string.
func BenchmarkQuery(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchQueryRaw)))
	for b.Loop() {
		def.Query(benchQueryRaw)
	}
}

// BenchmarkQuery_canonical filters a query that is already canonical.
func BenchmarkQuery_canonical(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		def.Query("utm_campaign=spring_sale_2024&utm_medium=email&utm_source=newsletter")
	}
}

// BenchmarkRegistrableDomain reduces a typical referrer.
func BenchmarkRegistrableDomain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		RegistrableDomain("https://www.google.co.uk/search?q=iphone+15&source=hp")
	}
}
