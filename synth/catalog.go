package synth

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// The product catalogue is the same for every generator (built once from a fixed seed),
// so product ids and slugs are stable across runs and seeds.

const (
	catElectronics uint8 = iota
	catFashion
	catHome
	catGarden
	catToys
	catBooks
	catSports
	catBeauty
	catGrocery
	numCats
	catNone uint8 = 255
)

var catNames = [numCats]string{"electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery"}
var catTitles = [numCats]string{"Electronics", "Fashion", "Home & Living", "Garden", "Toys", "Books", "Sports", "Beauty", "Grocery"}

type item struct {
	name     string
	min, max int // euros
}

type catSpec struct {
	brands   []string
	items    []item
	variants []string
	queries  []string // search terms that lead into the category
	blog     []string // blog slugs about the category
}

var catSpecs = [numCats]catSpec{
	catElectronics: {
		brands: []string{"Samsung", "Apple", "Sony", "Philips", "Logitech", "Anker", "Lenovo", "JBL", "Bose", "Asus", "Xiaomi", "TP-Link", "GoPro"},
		items: []item{{"Wireless Headphones", 30, 420}, {"Bluetooth Speaker", 20, 300}, {"4K Monitor 27\"", 180, 900}, {"USB-C Hub", 15, 90},
			{"Mechanical Keyboard", 40, 200}, {"Gaming Mouse", 15, 150}, {"Smartphone", 150, 1300}, {"Tablet", 120, 1100},
			{"Laptop 14\"", 400, 2500}, {"Smartwatch", 60, 800}, {"Power Bank 20000mAh", 15, 80}, {"Action Camera", 80, 500},
			{"Phone Case", 8, 45}, {"HDMI 2.1 Cable", 5, 30}, {"Wi-Fi 6 Router", 40, 350}, {"E-reader", 90, 280}},
		variants: []string{"Black", "White", "Silver", "Midnight Blue", "Graphite", "Pro", "Lite", "2024 Edition"},
		queries: []string{"wireless earbuds", "usb c charger", "4k tv 55 inch", "gaming laptop", "iphone 16 case", "noise cancelling headphones",
			"rtx 4070", "usb-c hub", "mechanical keyboard", "powerbank", "smartwatch", "oplader usb c", "koptelefoon draadloos", "ssd 2tb"},
		blog: []string{"best-noise-cancelling-headphones-2025", "home-office-setup-guide", "how-to-choose-a-monitor", "smartwatch-buying-guide"},
	},
	catFashion: {
		brands: []string{"Zara", "Mango", "Levi's", "Nike", "adidas", "Scotch & Soda", "G-Star RAW", "Tommy Hilfiger", "Only", "Vero Moda", "Björn Borg", "Hunkemöller"},
		items: []item{{"Linen Dress", 25, 120}, {"Slim Fit Jeans", 30, 130}, {"White Sneakers", 40, 160}, {"Wool Coat", 90, 350},
			{"Cotton T-Shirt", 8, 45}, {"Hoodie", 25, 90}, {"Leather Belt", 15, 80}, {"Rain Jacket", 40, 200}, {"Ankle Boots", 50, 220},
			{"Silk Scarf", 20, 110}, {"Chino Shorts", 20, 70}, {"Knit Sweater", 30, 140}},
		variants: []string{"Black", "Navy", "Beige", "Olive", "Off-White", "Denim Blue", "Size M", "Size 38"},
		queries: []string{"linen dress", "white sneakers", "winter coat women", "jeans slim fit", "zomerjurk", "leather jacket", "wool sweater",
			"trench coat", "sneakers heren", "crossbody bag"},
		blog: []string{"spring-fashion-trends", "capsule-wardrobe-basics", "how-to-style-white-sneakers", "sustainable-denim"},
	},
	catHome: {
		brands: []string{"Philips", "Bosch", "Dyson", "Tefal", "De'Longhi", "Brabantia", "Kärcher", "Makita", "Le Creuset", "WMF"},
		items: []item{{"Bed Linen 140x200", 25, 120}, {"Cordless Vacuum", 90, 600}, {"LED Bulb E27 4-pack", 4, 25}, {"Espresso Machine", 60, 900},
			{"Desk Lamp", 20, 120}, {"Storage Boxes", 10, 50}, {"Cast Iron Pan", 25, 150}, {"Bath Towel Set", 15, 80},
			{"Office Chair", 90, 700}, {"Air Purifier", 80, 500}, {"Cordless Drill", 50, 300}, {"Paint Roller Set", 8, 40}, {"Wall Shelf", 15, 90}},
		variants: []string{"Anthracite", "White", "Oak", "Stainless Steel", "Sage Green", "18V", "XL"},
		queries: []string{"cordless drill", "bed linen 140x200", "led bulbs e27", "espresso machine", "robotstofzuiger", "office chair", "air purifier",
			"wandplank", "paint roller", "stofzuiger snoerloos"},
		blog: []string{"home-office-setup", "diy-wall-shelves", "choosing-the-right-vacuum", "cosy-living-room-ideas"},
	},
	catGarden: {
		brands: []string{"Gardena", "Weber", "Bosch", "Fiskars", "Elho", "Hozelock", "Ryobi", "Kärcher"},
		items: []item{{"Garden Hose 25m", 15, 80}, {"Lawn Mower", 120, 900}, {"Plant Pot Set", 10, 70}, {"Pruning Shears", 10, 60},
			{"Garden Chair", 30, 250}, {"Charcoal BBQ", 60, 1200}, {"Solar Garden Lights", 10, 60}, {"Raised Garden Bed", 40, 250},
			{"Watering Can", 8, 40}, {"Hedge Trimmer", 50, 350}, {"Parasol 3m", 40, 300}},
		variants: []string{"Green", "Anthracite", "Terracotta", "36V", "Large", "Set of 3"},
		queries:  []string{"garden hose", "lawn mower", "plant pots", "bbq", "tuinslang", "grasmaaier", "hedge trimmer", "solar lights garden", "parasol"},
		blog:     []string{"how-to-repot-a-monstera", "lawn-care-calendar", "balcony-garden-ideas", "bbq-season-checklist"},
	},
	catToys: {
		brands: []string{"LEGO", "Ravensburger", "Hasbro", "Playmobil", "Mattel", "Jumbo", "Brio", "Hape", "999 Games"},
		items: []item{{"Technic Set", 20, 450}, {"Puzzle 1000 Pieces", 10, 30}, {"Family Board Game", 15, 60}, {"Wooden Train Set", 20, 120},
			{"Plush Bear", 10, 50}, {"Remote Control Car", 20, 150}, {"Doll House", 40, 250}, {"Building Blocks", 10, 80},
			{"Kids Scooter", 30, 150}, {"Science Kit", 15, 60}},
		variants: []string{"Ages 3+", "Ages 6+", "Ages 8+", "Ages 12+", "Deluxe", "Starter"},
		queries:  []string{"lego technic", "puzzle 1000", "board games family", "speelgoed 3 jaar", "wooden train", "rc car", "science kit kids"},
		blog:     []string{"best-board-games-for-families", "lego-sets-for-adults", "toys-by-age-guide"},
	},
	catBooks: {
		brands: []string{"Penguin", "HarperCollins", "Lannoo", "De Bezige Bij", "Querido", "Lonely Planet", "Taschen", "Marvel"},
		items: []item{{"Thriller Paperback", 8, 25}, {"Vegetarian Cookbook", 15, 45}, {"Children's Picture Book", 8, 25}, {"History Hardcover", 20, 50},
			{"Self-Help Paperback", 10, 25}, {"Graphic Novel", 12, 35}, {"Travel Guide", 15, 35}, {"Dutch Literary Novel", 15, 30},
			{"Science Fiction Omnibus", 15, 40}, {"Poetry Collection", 10, 25}},
		variants: []string{"Paperback", "Hardcover", "Illustrated Edition", "Box Set", "Dutch Edition"},
		queries:  []string{"thriller paperback", "cookbook vegetarian", "kinderboeken 6 jaar", "travel guide italy", "graphic novel", "roman", "bestseller 2025"},
		blog:     []string{"summer-reading-list", "books-for-new-parents", "best-thrillers-of-the-year"},
	},
	catSports: {
		brands: []string{"Nike", "adidas", "ASICS", "Garmin", "Puma", "Wilson", "Osprey", "Speedo", "Under Armour"},
		items: []item{{"Running Shoes", 50, 200}, {"Yoga Mat", 15, 80}, {"Fitness Tracker", 30, 300}, {"Dumbbell Set", 20, 200},
			{"Cycling Helmet", 30, 250}, {"Tennis Racket", 30, 250}, {"Football", 10, 150}, {"Sports Bottle", 5, 35},
			{"Swim Goggles", 8, 40}, {"Hiking Backpack 30L", 30, 200}},
		variants: []string{"Black", "Neon", "Size 42", "Size 39", "Women", "Men", "Pro"},
		queries:  []string{"running shoes", "yoga mat", "fitness tracker", "hardloopschoenen", "dumbbells", "bike helmet", "hiking backpack"},
		blog:     []string{"marathon-training-plan", "home-workout-essentials", "choosing-running-shoes"},
	},
	catBeauty: {
		brands: []string{"L'Oréal", "Nivea", "The Ordinary", "Clinique", "Philips", "Oral-B", "Rituals", "La Roche-Posay", "Maybelline"},
		items: []item{{"Vitamin C Serum", 10, 70}, {"Sunscreen SPF 50", 8, 35}, {"Eau de Parfum 50ml", 30, 180}, {"Hair Dryer", 25, 450},
			{"Moisturising Cream", 8, 60}, {"Mascara", 8, 40}, {"Electric Toothbrush", 30, 250}, {"Shampoo", 4, 25},
			{"Nail Polish Set", 8, 30}, {"Beard Trimmer", 20, 120}},
		variants: []string{"30ml", "50ml", "Sensitive", "Travel Size", "Limited Edition", "Refill"},
		queries:  []string{"vitamin c serum", "sunscreen spf 50", "parfum dames", "hair dryer", "electric toothbrush", "niacinamide", "mascara waterproof"},
		blog:     []string{"sustainable-skincare-routine", "spf-explained", "gift-sets-for-her"},
	},
	catGrocery: {
		brands: []string{"Douwe Egberts", "Oatly", "Barilla", "Tony's Chocolonely", "Alpro", "Pukka", "Lavazza", "Royal Canin"},
		items: []item{{"Coffee Beans 1kg", 10, 35}, {"Oat Drink 6-pack", 8, 20}, {"Protein Bars 12-pack", 12, 35}, {"Olive Oil 1L", 8, 25},
			{"Green Tea", 4, 15}, {"Dark Chocolate", 2, 8}, {"Pasta Variety Pack", 5, 15}, {"Dog Food 12kg", 25, 80},
			{"Muesli", 4, 12}, {"Sparkling Water 24-pack", 8, 20}},
		variants: []string{"Organic", "Family Pack", "Decaf", "Bio", "Value Pack"},
		queries:  []string{"coffee beans", "oat milk", "protein bars", "koffiebonen", "olive oil", "dog food", "tony chocolonely"},
		blog:     []string{"coffee-brewing-guide", "healthy-snacks-for-work"},
	},
}

var giftQueries = []string{"gift for dad", "gift for mom", "birthday present 8 year old", "cadeau voor moeder", "cadeau voor opa",
	"christmas gift ideas", "gift for her under 50", "sinterklaas cadeau", "gift for boyfriend", "housewarming gift",
	"gift for teacher", "present for 10 year old boy", "baby shower gift", "kerstcadeau collega"}

var helpTopics = []string{"returns", "shipping", "payment-methods", "contact", "order-status", "warranty", "gift-cards", "privacy", "faq"}

type product struct {
	cat   uint8
	id    string
	sku   string
	name  string
	brand string
	price int    // cents
	path  string // /p/<slug>-<id>
	frag  []byte // `"product_id":"..","sku":"..","category":"..","name":"..","brand":".."`
}

// catalog[c] is sorted by ascending price.
var catalog [numCats][]*product

const productsPerCat = 160

func init() {
	r := rand.New(rand.NewPCG(20250314, 7))
	seen := map[string]bool{}
	for c := uint8(0); c < numCats; c++ {
		spec := &catSpecs[c]
		list := make([]*product, 0, productsPerCat)
		for len(list) < productsPerCat {
			it := spec.items[r.IntN(len(spec.items))]
			brand := spec.brands[r.IntN(len(spec.brands))]
			variant := spec.variants[r.IntN(len(spec.variants))]
			name := brand + " " + it.name + " " + variant
			if c == catToys && brand == "LEGO" {
				name = "LEGO " + it.name + " " + variant
			}
			digits := 6 + r.IntN(3)
			lo := 1
			for i := 1; i < digits; i++ {
				lo *= 10
			}
			id := strconv.Itoa(lo + r.IntN(9*lo))
			if seen[id] {
				continue
			}
			seen[id] = true
			euros := it.min + r.IntN(it.max-it.min+1)
			cents := euros*100 + []int{99, 95, 49, 0, 99}[r.IntN(5)]
			if cents > 100 && cents%100 == 0 {
				cents -= 1
			}
			p := &product{
				cat:   c,
				id:    id,
				sku:   strings.ToUpper(catNames[c][:3] + "-" + skuPart(brand, 3) + "-" + id[len(id)-5:] + "-" + skuPart(variant, 2)),
				name:  name,
				brand: brand,
				price: cents,
			}
			p.path = "/p/" + slugify(name) + "-" + id
			var f []byte
			f = appendFirstKV(f, "product_id", p.id)
			f = appendKV(f, "sku", p.sku)
			f = appendKV(f, "category", catNames[c])
			f = appendKV(f, "name", p.name)
			f = appendKV(f, "brand", p.brand)
			p.frag = f
			list = append(list, p)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].price < list[j].price })
		catalog[c] = list
	}
}

func skuPart(s string, n int) string {
	s = strings.ReplaceAll(slugify(s), "-", "")
	return s[:min(n, len(s))]
}

// blogTitles maps blog slugs to human titles ("how-to-repot-a-monstera" -> "How to repot a monstera").
var blogTitles = func() map[string]string {
	m := map[string]string{}
	for _, c := range catSpecs {
		for _, s := range c.blog {
			t := strings.ReplaceAll(s, "-", " ")
			m[s] = strings.ToUpper(t[:1]) + t[1:]
		}
	}
	return m
}()

var foldRepl = strings.NewReplacer("ä", "a", "á", "a", "à", "a", "â", "a", "ã", "a", "å", "a", "æ", "ae",
	"ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e", "í", "i", "ï", "i", "î", "i", "ñ", "n",
	"ö", "o", "ó", "o", "ô", "o", "ø", "o", "ü", "u", "ú", "u", "û", "u", "ß", "ss", "ş", "s", "ğ", "g",
	"ı", "i", "ł", "l", "ń", "n", "ś", "s", "ż", "z", "ź", "z", "ć", "c", "ę", "e", "ą", "a", "ễ", "e", "ă", "a",
	"ơ", "o", "ư", "u", "đ", "d", "ạ", "a", "ọ", "o", "ữ", "u", "ầ", "a", "ế", "e", "ồ", "o", "ắ", "a")

// fold lower-cases and strips diacritics (ASCII-only result for the names used here).
func fold(s string) string { return foldRepl.Replace(strings.ToLower(s)) }

// slugify makes a URL slug: lower-case ASCII letters and digits separated by dashes.
func slugify(s string) string {
	s = strings.ReplaceAll(fold(s), "&", " and ")
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
		} else if c != '\'' {
			dash = true
		}
	}
	return b.String()
}
