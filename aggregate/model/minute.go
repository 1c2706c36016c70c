package model

import (
	"math"
	"time"
)

// minuteOf returns the unix minute (UTC, floored) of an RFC 3339 time, in
// [1, MaxUint32], and false when s is not a valid time. The anonymized
// event's "2006-01-02T15:04:00Z" form is parsed without the time package;
// any other RFC 3339 form (an offset, fractions) goes through time.Parse.
func minuteOf(s string) (uint32, bool) {
	if m, ok := fastMinute(s); ok {
		return clampMinute(m), true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false
	}
	sec := t.Unix()
	m := sec / 60
	if sec < 0 && sec%60 != 0 {
		m--
	}
	return clampMinute(m), true
}

func clampMinute(m int64) uint32 {
	if m < 1 {
		return 1
	}
	if m > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(m)
}

// fastMinute parses exactly YYYY-MM-DDTHH:MM:SSZ.
func fastMinute(s string) (int64, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	se, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || se > 59 {
		return 0, false
	}
	return daysFromCivil(y, mo, d)*1440 + int64(h)*60 + int64(mi), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int(c)
	}
	return n, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date with year >= 0 (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
