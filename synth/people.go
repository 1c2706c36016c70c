package synth

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Realistic personal data for synthetic visitors: names, e-mail addresses, phone
// numbers, addresses, bank accounts and network identities. Nothing here belongs to a
// real person; formats and check digits are real so that detectors are exercised.

var dutchFirst = []string{"Sanne", "Daan", "Emma", "Lucas", "Julia", "Sem", "Fleur", "Noah", "Lotte", "Bram", "Anouk", "Thijs",
	"Eva", "Jesse", "Femke", "Ruben", "Iris", "Stijn", "Lieke", "Jeroen", "Marieke", "Pieter", "Annelies", "Willem", "Mohammed",
	"Fatima", "Yusuf", "Elif", "Kevin", "Priscilla", "Joost", "Maaike", "Sven", "Roos", "Gijs", "Noor", "Tess", "Luuk", "Hanna", "Sophie"}

var dutchLast = []string{"de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot",
	"Bos", "Vos", "Peters", "Hendriks", "van Dijk", "Dekker", "van Leeuwen", "Brouwer", "de Wit", "Dijkstra", "El Amrani",
	"Yılmaz", "Kaya", "van der Meer", "Verhoeven", "Kramer", "Janssens", "Willems", "Postma", "Kuiper", "Koç", "Martens"}

var intlFirst = []string{"Lukas", "Anna", "Chloé", "José", "Søren", "Priya", "Wei", "Olusegun", "Zoë", "Mateusz", "Aisha", "Liam",
	"Olivia", "Jean-Pierre", "Ingrid", "Giulia", "Ahmed", "Ana", "Björn", "Kateřina", "Nguyễn", "Hiroshi", "Siobhán", "Rafael"}

var intlLast = []string{"Müller", "Kowalska", "Lefèvre", "García", "Nielsen", "Sharma", "Zhang", "Adeyemi", "Schmidt", "O'Brien",
	"Rossi", "Dubois", "Novák", "Haddad", "Silva", "Tanaka", "Andersson", "Smith", "Fischer", "Văn An", "Nowak", "Murphy"}

var emailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "hotmail.com", "outlook.com", "live.nl", "ziggo.nl",
	"kpnmail.nl", "icloud.com", "yahoo.com", "xs4all.nl", "hotmail.nl", "gmx.de", "telenet.be", "proton.me", "planet.nl"}

var nlStreets = []string{"Dorpsstraat", "Kerkstraat", "Stationsweg", "Molenweg", "Julianalaan", "Wilhelminastraat", "Schoolstraat",
	"Keizersgracht", "Prinsengracht", "Hoofdstraat", "Beatrixlaan", "Nieuwstraat", "Emmastraat", "Parkweg", "Lindelaan",
	"Oranjestraat", "Van Goghstraat", "Rembrandtlaan", "Burgemeester de Withstraat", "Marktplein"}

type city struct {
	name   string
	pc     int // first two postcode digits
	phone  string
	region string
}

var nlCities = []city{{"Amsterdam", 10, "020", "NH"}, {"Rotterdam", 30, "010", "ZH"}, {"Utrecht", 35, "030", "UT"},
	{"Den Haag", 25, "070", "ZH"}, {"Eindhoven", 56, "040", "NB"}, {"Groningen", 97, "050", "GR"}, {"Tilburg", 50, "013", "NB"},
	{"Almere", 13, "036", "FL"}, {"Breda", 48, "076", "NB"}, {"Nijmegen", 65, "024", "GE"}, {"Haarlem", 20, "023", "NH"},
	{"Arnhem", 68, "026", "GE"}, {"Zwolle", 80, "038", "OV"}, {"Leiden", 23, "071", "ZH"}, {"Maastricht", 62, "043", "LI"},
	{"Delft", 26, "015", "ZH"}}

var ibanBanks = []string{"ABNA", "RABO", "INGB", "TRIO", "SNSB", "ASNB", "KNAB", "BUNQ", "RBRB"}

var locales = []struct {
	tag string
	w   float64
}{{"nl-NL", 0.60}, {"en-US", 0.08}, {"en-GB", 0.06}, {"de-DE", 0.08}, {"nl-BE", 0.07}, {"fr-BE", 0.03}, {"fr-FR", 0.03},
	{"pl-PL", 0.02}, {"tr-TR", 0.02}, {"es-ES", 0.01}}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// person is the personal data behind a visitor.
type person struct {
	first, last, email, phone string
	street, house, postcode   string
	city, country             string
	iban, birthday            string
}

func newPerson(r *rand.Rand, locale string) person {
	var p person
	if strings.HasPrefix(locale, "nl") && r.Float64() < 0.85 {
		p.first, p.last = pick(r, dutchFirst), pick(r, dutchLast)
	} else {
		p.first, p.last = pick(r, intlFirst), pick(r, intlLast)
	}
	p.email = makeEmail(r, p.first, p.last)
	p.phone = makePhone(r, locale)
	c := pick(r, nlCities)
	p.street = pick(r, nlStreets)
	p.house = strconv.Itoa(1 + r.IntN(180))
	if r.Float64() < 0.15 {
		p.house += []string{"A", "B", "-2", " hs", "-1"}[r.IntN(5)]
	}
	p.postcode = nlPostcode(r, c.pc)
	p.city = c.name
	p.country = "NL"
	if locale == "nl-BE" || locale == "fr-BE" {
		p.street, p.postcode, p.city, p.country = pick(r, []string{"Meir", "Kerkstraat", "Rue de la Loi", "Veldstraat"}), strconv.Itoa(1000+r.IntN(8900)), pick(r, []string{"Antwerpen", "Gent", "Brussel", "Leuven"}), "BE"
	}
	p.iban = makeIBAN(r, "NL", pick(r, ibanBanks), 10)
	if r.Float64() < 0.5 {
		p.birthday = strconv.Itoa(1950+r.IntN(56)) + "-" + two(1+r.IntN(12)) + "-" + two(1+r.IntN(28))
	}
	return p
}

func two(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func (p *person) fullName() string { return p.first + " " + p.last }

func makeEmail(r *rand.Rand, first, last string) string {
	f := strings.ReplaceAll(slugify(first), "-", "")
	l := strings.ReplaceAll(slugify(last), "-", "")
	var local string
	switch r.IntN(7) {
	case 0:
		local = f + "." + l
	case 1:
		local = f + l
	case 2:
		local = f[:1] + "." + l
	case 3:
		local = f + "." + l + strconv.Itoa(70+r.IntN(30))
	case 4:
		local = f + "_" + l
	case 5:
		local = f + strconv.Itoa(1+r.IntN(999))
	default:
		local = l + "." + f + "+shop"
	}
	return local + "@" + pick(r, emailDomains)
}

func makePhone(r *rand.Rand, locale string) string {
	switch {
	case strings.HasSuffix(locale, "BE"):
		return "+32 4" + strconv.Itoa(70+r.IntN(30)) + " " + two(r.IntN(100)) + " " + two(r.IntN(100)) + " " + two(r.IntN(100))
	case locale == "de-DE":
		return "+49 15" + strconv.Itoa(r.IntN(10)) + " " + digits(r, 8)
	}
	n := strconv.Itoa(1+r.IntN(9)) + digits(r, 7)
	switch r.IntN(5) {
	case 0:
		return "+31 6 " + n[:4] + " " + n[4:]
	case 1:
		return "06-" + n
	case 2:
		return "06" + n
	case 3:
		return "+316" + n
	default:
		c := pick(r, nlCities)
		return c.phone + "-" + digits(r, 10-len(c.phone))
	}
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// nlPostcode returns a Dutch postcode "1234 AB" in the region starting with pc.
func nlPostcode(r *rand.Rand, pc int) string {
	const letters = "ABCDEFGHJKLMNPRSTVWXZ"
	for {
		a, b := letters[r.IntN(len(letters))], letters[r.IntN(len(letters))]
		if a == 'S' && (b == 'A' || b == 'D' || b == 'S') {
			continue // not issued in the Netherlands
		}
		return strconv.Itoa(pc*100+r.IntN(100)) + " " + string([]byte{a, b})
	}
}

// makeIBAN returns an IBAN with valid ISO 13616 check digits.
func makeIBAN(r *rand.Rand, country, bank string, accountDigits int) string {
	bban := bank + digits(r, accountDigits)
	return country + ibanCheck(country, bban) + bban
}

func ibanCheck(country, bban string) string {
	rem := ibanMod97(bban + country + "00")
	return two(98 - rem)
}

func ibanMod97(s string) int {
	rem := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		}
	}
	return rem
}

// validIBAN reports whether s (without spaces) has valid check digits.
func validIBAN(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 5 {
		return false
	}
	return ibanMod97(s[4:]+s[:4]) == 1
}

// makeCard returns a 16-digit card number (Visa or Mastercard prefix) passing Luhn.
func makeCard(r *rand.Rand) string {
	prefix := pick(r, []string{"4", "4", "51", "52", "53", "54", "55", "2221"})
	body := prefix + digits(r, 15-len(prefix))
	return body + strconv.Itoa(luhnDigit(body))
}

func luhnDigit(body string) int {
	sum := 0
	double := true
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}

func validLuhn(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 2 {
		return false
	}
	return luhnDigit(s[:len(s)-1]) == int(s[len(s)-1]-'0')
}

// makeBSN returns a 9-digit Dutch citizen service number passing the 11-check.
func makeBSN(r *rand.Rand) string {
	for {
		d := digits(r, 8)
		if d[0] == '0' {
			continue
		}
		sum := 0
		for i := 0; i < 8; i++ {
			sum += int(d[i]-'0') * (9 - i)
		}
		last := sum % 11 // need (sum - last) % 11 == 0
		if last > 9 {
			continue
		}
		return d + strconv.Itoa(last)
	}
}

func validBSN(s string) bool {
	if len(s) != 9 {
		return false
	}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(s[i]-'0') * (9 - i)
	}
	sum -= int(s[8] - '0')
	return sum%11 == 0
}

// Network identities.

var v4Broadband = [][2]int{{84, 24}, {84, 104}, {77, 160}, {77, 170}, {62, 194}, {213, 127}, {145, 53}, {94, 209}, {86, 81}, {83, 84}, {178, 84}, {217, 100}}
var v4Mobile = [][2]int{{31, 20}, {37, 74}, {46, 145}, {188, 88}, {89, 200}, {92, 68}}
var v6Prefixes = []string{"2a02:a45", "2a02:a46", "2001:1c0", "2a02:580", "2a10:378", "2001:985"}

func makeIPv4(r *rand.Rand, mobile bool) string {
	pfx := pick(r, v4Broadband)
	if mobile {
		pfx = pick(r, v4Mobile)
	}
	return strconv.Itoa(pfx[0]) + "." + strconv.Itoa(pfx[1]+r.IntN(4)) + "." + strconv.Itoa(r.IntN(256)) + "." + strconv.Itoa(1+r.IntN(254))
}

func makeIPv6(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(pick(r, v6Prefixes)) // "xxxx:xxx"
	b.WriteByte(hexLower[r.IntN(16)])
	for i := 0; i < 6; i++ {
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(r.IntN(0x10000)), 16))
	}
	return b.String()
}

// randToken returns n characters from alphabet.
func randToken(r *rand.Rand, n int, alphabet string) string {
	var sb strings.Builder
	sb.Grow(n)
	for i := 0; i < n; i++ {
		sb.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64url   = alnum + "-_"
	hexUpper = "0123456789ABCDEF"
	hexLower = "0123456789abcdef"
	lowerAZ  = "abcdefghijklmnopqrstuvwxyz"
)

// Click ids as ad platforms put them on landing URLs.
func makeGclid(r *rand.Rand) string   { return "Cj0KCQ" + randToken(r, 84, b64url) + "_BwE" }
func makeFbclid(r *rand.Rand) string  { return "IwAR" + randToken(r, 57, b64url) }
func makeMsclkid(r *rand.Rand) string { return randToken(r, 32, hexLower) }
func makeTtclid(r *rand.Rand) string  { return "E_C_P_" + randToken(r, 40, b64url) }

// uuidString returns a random version-4 UUID.
func uuidString(r *rand.Rand) string {
	var buf [36]byte
	return string(appendUUID(buf[:0], r.Uint64(), r.Uint64()))
}

// jwtLike returns a realistic three-part JWT with a base64url payload naming the user.
func jwtLike(r *rand.Rand, sub string) string {
	hdr := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
	payload := b64raw(`{"sub":"` + sub + `","iat":` + strconv.Itoa(1700000000+r.IntN(90000000)) + `}`)
	return hdr + "." + payload + "." + randToken(r, 43, b64url)
}
