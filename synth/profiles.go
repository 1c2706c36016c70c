package synth

// Behaviour of each archetype. The numbers are the knobs; README.md in this folder
// lists the resulting per-visitor counters.

// browse actions (the "what next" choice when not in the cart funnel).
const (
	brHome = iota
	brCategory
	brProduct
	brSearch
	brDeals
	brPromo
	brBlog
	brHelp
	brAccount
	numBrowse
)

type srcW struct {
	source, medium string
	w              float64
}

type profile struct {
	dev        [3]float64 // desktop, mobile, tablet weights
	app        float64    // share of mobile/tablet visitors using the native app
	campaign   float64    // probability a session arrives through a utm campaign
	sources    []srcW
	campaigns  []string
	organic    float64 // probability a non-campaign session comes from a search engine
	minSteps   int
	meanSteps  int
	maxSteps   int
	think      float64 // median think time (seconds) between steps
	browse     [numBrowse]float64
	focus      map[uint8]float64 // category focus; nil = personal random preference
	priceBand  int               // 0 any, 1 cheap (lower 35 % + sale price), 2 premium (upper half)
	pAdd       float64           // add to cart after a product view
	pCart      float64           // view the cart after an add
	pCheckout  float64           // start checkout after viewing the cart
	pOrder     float64           // complete the order after checkout started
	pRemove    float64           // remove an item when viewing the cart
	signedIn   float64           // visitor is a known, remembered customer (userId on every event)
	pSignIn    float64           // per session: signs in (becomes signed in for good)
	pSignUp    float64           // per session: creates an account
	pNews      float64           // per session: subscribes to the newsletter
	giftSearch float64           // share of searches that are gift searches
}

var (
	saleCampaigns = []string{"spring-sale", "summer-sale", "black-friday", "cyber-monday", "winter-clearance"}
	giftCampaigns = []string{"christmas-gifts", "valentines-day", "back-to-school", "black-friday"}
	allCampaigns  = CampaignNames()
)

var profiles = [numArchetypes]*profile{
	MobileBargainHunter: {
		dev: [3]float64{0.03, 0.87, 0.10}, app: 0.40, campaign: 0.75,
		sources:   []srcW{{"google", "cpc", 0.35}, {"facebook", "social", 0.2}, {"instagram", "social", 0.2}, {"tiktok", "social", 0.2}, {"bing", "cpc", 0.05}},
		campaigns: saleCampaigns, organic: 0.3,
		minSteps: 4, meanSteps: 12, maxSteps: 30, think: 8,
		browse:    [numBrowse]float64{brHome: 0.04, brCategory: 0.10, brProduct: 0.34, brSearch: 0.04, brDeals: 0.30, brPromo: 0.14, brHelp: 0.01, brAccount: 0.01},
		priceBand: 1, pAdd: 0.10, pCart: 0.5, pCheckout: 0.35, pOrder: 0.5, pRemove: 0.15,
		signedIn: 0.05, pSignUp: 0.01, pNews: 0.03,
	},
	Researcher: {
		dev: [3]float64{0.92, 0.04, 0.04}, app: 0, campaign: 0.04,
		sources: []srcW{{"google", "cpc", 0.7}, {"bing", "cpc", 0.3}}, campaigns: allCampaigns, organic: 0.6,
		minSteps: 12, meanSteps: 30, maxSteps: 80, think: 25,
		browse: [numBrowse]float64{brHome: 0.02, brCategory: 0.08, brProduct: 0.38, brSearch: 0.42, brDeals: 0.01, brBlog: 0.06, brHelp: 0.03},
		pAdd:   0.025, pCart: 0.5, pCheckout: 0.3, pOrder: 0.4, pRemove: 0.3,
		signedIn: 0.05, pSignIn: 0.01,
	},
	LoyalBuyer: {
		dev: [3]float64{0.50, 0.40, 0.10}, app: 0.35, campaign: 0.25,
		sources: []srcW{{"newsletter", "email", 0.8}, {"partner-x", "affiliate", 0.2}}, campaigns: allCampaigns, organic: 0.1,
		minSteps: 5, meanSteps: 12, maxSteps: 30, think: 15,
		browse: [numBrowse]float64{brHome: 0.10, brCategory: 0.18, brProduct: 0.34, brSearch: 0.15, brDeals: 0.05, brPromo: 0.03, brBlog: 0.02, brHelp: 0.02, brAccount: 0.11},
		pAdd:   0.40, pCart: 0.85, pCheckout: 0.85, pOrder: 0.95, pRemove: 0.05,
		signedIn: 1, pNews: 0.02,
	},
	CartAbandoner: {
		dev: [3]float64{0.45, 0.45, 0.10}, app: 0.15, campaign: 0.2,
		sources: []srcW{{"google", "cpc", 0.4}, {"facebook", "social", 0.2}, {"newsletter", "email", 0.2}, {"partner-x", "affiliate", 0.2}}, campaigns: allCampaigns, organic: 0.3,
		minSteps: 6, meanSteps: 12, maxSteps: 25, think: 18,
		browse: [numBrowse]float64{brHome: 0.04, brCategory: 0.18, brProduct: 0.52, brSearch: 0.14, brDeals: 0.07, brPromo: 0.01, brHelp: 0.02, brAccount: 0.02},
		pAdd:   0.60, pCart: 0.45, pCheckout: 0.5, pOrder: 0, pRemove: 0.25,
		signedIn: 0.08, pSignIn: 0.03, pSignUp: 0.03, pNews: 0.01,
	},
	CampaignClicker: {
		dev: [3]float64{0.35, 0.60, 0.05}, app: 0.08, campaign: 1,
		sources:   []srcW{{"newsletter", "email", 0.45}, {"facebook", "social", 0.2}, {"instagram", "social", 0.2}, {"tiktok", "social", 0.15}},
		campaigns: allCampaigns,
		minSteps:  1, meanSteps: 2, maxSteps: 3, think: 12,
		browse:   [numBrowse]float64{brCategory: 0.25, brProduct: 0.35, brDeals: 0.28, brPromo: 0.12},
		signedIn: 0.03,
	},
	CasualBrowser: {
		dev: [3]float64{0.45, 0.45, 0.10}, app: 0.05, campaign: 0.04,
		sources: []srcW{{"google", "cpc", 0.5}, {"partner-x", "affiliate", 0.5}}, campaigns: allCampaigns, organic: 0.3,
		minSteps: 2, meanSteps: 4, maxSteps: 7, think: 20,
		browse: [numBrowse]float64{brHome: 0.20, brCategory: 0.26, brProduct: 0.20, brSearch: 0.04, brDeals: 0.08, brPromo: 0.02, brBlog: 0.10, brHelp: 0.10},
		pAdd:   0.04, pCart: 0.3, pCheckout: 0.2, pOrder: 0.5,
		signedIn: 0.02, pNews: 0.01,
	},
	TechEnthusiast: {
		dev: [3]float64{0.65, 0.30, 0.05}, app: 0.15, campaign: 0.15,
		sources: []srcW{{"google", "cpc", 0.6}, {"partner-x", "affiliate", 0.4}}, campaigns: allCampaigns, organic: 0.4,
		minSteps: 4, meanSteps: 12, maxSteps: 35, think: 25,
		browse:    [numBrowse]float64{brHome: 0.04, brCategory: 0.20, brProduct: 0.45, brSearch: 0.20, brDeals: 0.05, brPromo: 0.02, brBlog: 0.04},
		focus:     map[uint8]float64{catElectronics: 0.82},
		priceBand: 2, pAdd: 0.12, pCart: 0.6, pCheckout: 0.5, pOrder: 0.8, pRemove: 0.1,
		signedIn: 0.2, pSignIn: 0.02, pNews: 0.01,
	},
	FashionFollower: {
		dev: [3]float64{0.20, 0.72, 0.08}, app: 0.30, campaign: 0.35,
		sources:   []srcW{{"instagram", "social", 0.45}, {"tiktok", "social", 0.3}, {"newsletter", "email", 0.25}},
		campaigns: []string{"new-arrivals", "spring-sale", "summer-sale"}, organic: 0.2,
		minSteps: 4, meanSteps: 12, maxSteps: 30, think: 12,
		browse: [numBrowse]float64{brHome: 0.04, brCategory: 0.25, brProduct: 0.45, brSearch: 0.08, brDeals: 0.08, brPromo: 0.06, brBlog: 0.04},
		focus:  map[uint8]float64{catFashion: 0.55, catBeauty: 0.28},
		pAdd:   0.15, pCart: 0.6, pCheckout: 0.45, pOrder: 0.75, pRemove: 0.1,
		signedIn: 0.2, pSignIn: 0.02, pNews: 0.03,
	},
	HomeImprover: {
		dev: [3]float64{0.55, 0.15, 0.30}, app: 0.05, campaign: 0.15,
		sources: []srcW{{"google", "cpc", 0.6}, {"newsletter", "email", 0.4}}, campaigns: allCampaigns, organic: 0.4,
		minSteps: 4, meanSteps: 10, maxSteps: 28, think: 30,
		browse: [numBrowse]float64{brHome: 0.04, brCategory: 0.25, brProduct: 0.38, brSearch: 0.22, brDeals: 0.05, brBlog: 0.05, brHelp: 0.01},
		focus:  map[uint8]float64{catHome: 0.50, catGarden: 0.35},
		pAdd:   0.12, pCart: 0.6, pCheckout: 0.5, pOrder: 0.8, pRemove: 0.1,
		signedIn: 0.2, pSignIn: 0.02, pNews: 0.01,
	},
	GiftShopper: {
		dev: [3]float64{0.45, 0.45, 0.10}, app: 0.05, campaign: 0.25,
		sources:   []srcW{{"google", "cpc", 0.4}, {"facebook", "social", 0.3}, {"newsletter", "email", 0.3}},
		campaigns: giftCampaigns, organic: 0.3,
		minSteps: 3, meanSteps: 9, maxSteps: 22, think: 20,
		browse: [numBrowse]float64{brHome: 0.05, brCategory: 0.22, brProduct: 0.35, brSearch: 0.30, brDeals: 0.05, brPromo: 0.03},
		focus:  map[uint8]float64{catToys: 0.45, catBooks: 0.35},
		pAdd:   0.18, pCart: 0.6, pCheckout: 0.5, pOrder: 0.8, pRemove: 0.1,
		signedIn: 0.1, pSignIn: 0.02, pSignUp: 0.02, pNews: 0.02,
		giftSearch: 0.6,
	},
}

// pickSource chooses a weighted campaign source.
func pickSource(x float64, s []srcW) srcW {
	for _, v := range s {
		x -= v.w
		if x < 0 {
			return v
		}
	}
	return s[len(s)-1]
}
