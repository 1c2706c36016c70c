package model

import (
	"strconv"

	"github.com/personas-dev/personas/schemas"
)

// Never is the value of minutes_since_last_<feature> and
// events_since_last_<feature> for a feature that has not fired yet in the
// epoch: "infinitely long ago", so that a recency test such as
// `minutes_since_last_cart_adds < 60` is false for a visitor who never added
// anything, and rules that mean "long ago" guard with the counter
// (`cart_adds > 0 && minutes_since_last_cart_adds >= 30`).
const Never = 1 << 30

// Limits of a model. They keep visitor state small (it is stored per
// pseudonym in Redis) and the persona index fit in a byte.
const (
	MaxPersonas   = 64
	MaxFeatures   = 128
	MaxCategories = 64
	// MaxCampaignLen caps the first-touch campaign source and medium kept
	// in visitor state, in bytes (cut at a rune boundary).
	MaxCampaignLen = 64
)

// DefaultSessionGap is the inactivity gap, in minutes, after which the next
// event starts a new session (unless the model sets session_gap_minutes).
const DefaultSessionGap = 30

// DefaultCategoryViewsWhen is the condition, over the event env, of the
// events that count as category views (the denominators of share and the
// counts behind views, category_views and top_category) unless the model
// sets category_views_when.
const DefaultCategoryViewsWhen = `event in ["Product Viewed", "Product List Viewed"]`

// DeviceClasses are the device classes of the anonymized event schema, in
// the order of their one-byte code in visitor state (code = index + 1).
var DeviceClasses = []string{"desktop", "mobile", "tablet", "tv", "bot", "other"}

// EventTypes are the event types of the anonymized event schema.
var EventTypes = []string{"page", "track", "identify", "screen", "group", "alias"}

func deviceCode(class string) uint8 {
	switch class {
	case "":
		return 0
	case "desktop":
		return 1
	case "mobile":
		return 2
	case "tablet":
		return 3
	case "tv":
		return 4
	case "bot":
		return 5
	}
	return 6 // other, and anything the schema does not know
}

func deviceName(code uint8) string {
	if code == 0 || int(code) > len(DeviceClasses) {
		return ""
	}
	return DeviceClasses[code-1]
}

// eventEnv is the env of feature conditions: one anonymized event,
// flattened. The expr tags are the names rules use. It is filled once per
// Observe (only the fields the model needs) and read by the compiled
// conditions; the expr VM reads it too, for conditions outside the fast
// subset, which is why the fields are exported.
type eventEnv struct {
	Type           string            `expr:"type"`
	Event          string            `expr:"event"`
	Category       string            `expr:"category"`
	Path           string            `expr:"path"`
	Device         string            `expr:"device"`
	Browser        string            `expr:"browser"`
	OS             string            `expr:"os"`
	Language       string            `expr:"language"`
	CampaignSource string            `expr:"campaign_source"`
	CampaignMedium string            `expr:"campaign_medium"`
	CampaignName   string            `expr:"campaign_name"`
	ReferrerDomain string            `expr:"referrer_domain"`
	Search         string            `expr:"search"`
	UTMSource      string            `expr:"utm_source"`
	UTMMedium      string            `expr:"utm_medium"`
	UTMCampaign    string            `expr:"utm_campaign"`
	UTMTerm        string            `expr:"utm_term"`
	UTMContent     string            `expr:"utm_content"`
	Price          float64           `expr:"price"`
	Value          float64           `expr:"value"`
	Hour           int               `expr:"hour"`
	Weekday        int               `expr:"weekday"`
	Bot            bool              `expr:"bot"`
	Query          map[string]string `expr:"query"`
	Properties     map[string]any    `expr:"properties"`

	src  *schemas.Event
	done uint8 // lazy fields computed
}

// Fields of eventEnv that cost a map lookup or a conversion are computed
// on first use (the fast path asks through the accessors below); a model
// with conditions on the expr VM has them all computed up front.
const (
	lazyCategory uint8 = 1 << iota
	lazySearch
	lazyUTM
	lazyPrice
	lazyValue
)

// eventNames are the names of the event env.
var eventNames = map[string]bool{
	"type": true, "event": true, "category": true, "path": true, "device": true, "browser": true,
	"os": true, "language": true, "campaign_source": true, "campaign_medium": true,
	"campaign_name": true, "referrer_domain": true, "search": true,
	"utm_source": true, "utm_medium": true, "utm_campaign": true, "utm_term": true, "utm_content": true,
	"price": true, "value": true, "hour": true, "weekday": true, "bot": true, "query": true, "properties": true,
}

// fill flattens ev into env. minute is the event time in unix minutes;
// eager computes the lazy fields at once (for the expr VM).
func (env *eventEnv) fill(ev *schemas.Event, minute int64, eager bool) {
	env.src = ev
	env.done = 0
	env.Type = ev.Type
	env.Event = ev.Event
	env.Path = ev.Path
	env.Language = ev.Language
	env.ReferrerDomain = ev.ReferrerDomain
	env.Bot = ev.Bot
	env.Query = ev.Query
	env.Properties = ev.Properties
	if d := ev.Device; d != nil {
		env.Device, env.Browser, env.OS = d.Class, d.Browser, d.OS
	} else {
		env.Device, env.Browser, env.OS = "", "", ""
	}
	if c := ev.Campaign; c != nil {
		env.CampaignSource, env.CampaignMedium, env.CampaignName = c.Source, c.Medium, c.Name
	} else {
		env.CampaignSource, env.CampaignMedium, env.CampaignName = "", "", ""
	}
	env.Hour = int(minute / 60 % 24)
	env.Weekday = weekday(minute)
	if eager {
		env.computeAll()
	}
}

// computeAll computes every lazy field.
func (env *eventEnv) computeAll() {
	env.category()
	env.search()
	env.utm()
	env.price()
	env.value()
}

// category is properties.category when it is a string.
func (env *eventEnv) category() string {
	if env.done&lazyCategory == 0 {
		env.done |= lazyCategory
		env.Category, _ = env.Properties["category"].(string)
	}
	return env.Category
}

// search is the event's search term, else properties.query.
func (env *eventEnv) search() string {
	if env.done&lazySearch == 0 {
		env.done |= lazySearch
		env.Search = env.src.Search
		if env.Search == "" {
			env.Search, _ = env.Properties["query"].(string)
		}
	}
	return env.Search
}

// utm fills the utm_* fields from the query parameters.
func (env *eventEnv) utm() *eventEnv {
	if env.done&lazyUTM == 0 {
		env.done |= lazyUTM
		q := env.Query
		env.UTMSource, env.UTMMedium, env.UTMCampaign = q["utm_source"], q["utm_medium"], q["utm_campaign"]
		env.UTMTerm, env.UTMContent = q["utm_term"], q["utm_content"]
	}
	return env
}

func (env *eventEnv) price() float64 {
	if env.done&lazyPrice == 0 {
		env.done |= lazyPrice
		env.Price = number(env.Properties["price"])
	}
	return env.Price
}

func (env *eventEnv) value() float64 {
	if env.done&lazyValue == 0 {
		env.done |= lazyValue
		env.Value = orderValue(env.Properties)
	}
	return env.Value
}

// orderValue is the monetary value of an event: properties value, revenue
// or total, the first that is a number; else price × quantity (quantity 1
// when absent); else 0.
func orderValue(p map[string]any) float64 {
	if len(p) == 0 {
		return 0
	}
	for _, k := range [...]string{"value", "revenue", "total"} {
		if v, ok := p[k]; ok {
			if f := number(v); f != 0 {
				return f
			}
		}
	}
	price := number(p["price"])
	if price == 0 {
		return 0
	}
	if q, ok := p["quantity"]; ok {
		return price * number(q)
	}
	return price
}

// number converts a JSON property value to a float64: numbers as they are,
// numeric strings parsed, anything else 0.
func number(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case interface{ Float64() (float64, error) }: // json.Number
		f, _ := x.Float64()
		return f
	case string:
		if x == "" || len(x) > 32 {
			return 0
		}
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0
		}
		return f
	}
	return 0
}

// Names of the visitor env, the env of persona rules, besides the feature
// names and minutes_since_last_<feature>.
const (
	vEvents             = "events"
	vSessions           = "sessions"
	vFirstSeen          = "first_seen"
	vLastSeen           = "last_seen"
	vMinutesActive      = "minutes_active"
	vHour               = "hour"
	vWeekday            = "weekday"
	vDevice             = "device"
	vMobileShare        = "mobile_share"
	vCampaignSource     = "campaign_source"
	vCampaignMedium     = "campaign_medium"
	vCatalogViews       = "catalog_views"
	vCategoryViews      = "category_views"
	vTopCategory        = "top_category"
	vDistinctCategories = "distinct_categories"
	vShare              = "share"
	vViews              = "views"
	recencyPrefix       = "minutes_since_last_"
	eventsSincePrefix   = "events_since_last_"
)

// builtinVisitorNames are the built-in names of the visitor env, with a
// zero value of their type for the type checker.
var builtinVisitorNames = map[string]any{
	vEvents:             0,
	vSessions:           0,
	vFirstSeen:          0,
	vLastSeen:           0,
	vMinutesActive:      0,
	vHour:               0,
	vWeekday:            0,
	vDevice:             "",
	vMobileShare:        0.0,
	vCampaignSource:     "",
	vCampaignMedium:     "",
	vCatalogViews:       0,
	vCategoryViews:      map[string]int{},
	vTopCategory:        "",
	vDistinctCategories: 0,
	vShare:              func(string) float64 { return 0 },
	vViews:              func(string) int { return 0 },
}

// weekday of a unix minute, UTC, 0 = Sunday.
func weekday(minute int64) int {
	d := minute / 1440
	if minute < 0 && minute%1440 != 0 {
		d--
	}
	w := (d + 4) % 7 // 1970-01-01 was a Thursday
	if w < 0 {
		w += 7
	}
	return int(w)
}
