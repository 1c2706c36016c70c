package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Visitor is the state of one pseudonym within its epoch: the built-in
// features, the model's feature counters and the persona it was last
// classified into. It holds no identifier, only counts, event-time minutes,
// a device class and the first-touch campaign source and medium.
//
// The zero value is a visitor with no events. Observe fills it; AppendBinary
// and UnmarshalBinary move it to and from the state store. A Visitor is
// tied to the model layout it was built with (a 16-bit fingerprint of the
// feature and category lists): an Evaluator of a model with a different
// layout starts the visitor afresh, so a model change mid-epoch never reads
// counters at the wrong index.
type Visitor struct {
	layout  uint16 // model layout fingerprint; 0 = empty visitor
	roster  uint16 // fingerprint of the persona list persona refers to
	persona uint8  // persona index + 1; 0 = not classified yet
	device  uint8  // last device class code; 0 = unknown

	// Event-time minutes since the Unix epoch (UTC); 0 = no time yet.
	firstSeen, lastSeen uint32

	events   uint32 // events observed
	sessions uint32 // sessions (a gap of session_gap_minutes starts one)
	deviced  uint32 // events that carried a device class
	mobile   uint32 // of which with class mobile
	catalog  uint32 // category views (events matching category_views_when)

	campaignSource, campaignMedium string // first touch in the epoch

	nFeat, nCat, nMin, nEvt uint8
	// slots holds nFeat feature counters, nCat category view counters,
	// nMin recency minutes (the unix minute of the feature's last event)
	// and nEvt recency ordinals (the value of events at the feature's last
	// event); 0 = never.
	slots []uint32
}

// Persona returns the index (into Model.Personas) of the persona the
// visitor was last classified into, or -1 if it has not been classified
// yet, or was classified under a different persona list.
func (v *Visitor) Persona() int { return int(v.persona) - 1 }

// Events returns the number of events observed in the epoch.
func (v *Visitor) Events() int { return int(v.events) }

// Reset makes v the zero visitor, keeping its memory for reuse.
func (v *Visitor) Reset() {
	s := v.slots[:0]
	*v = Visitor{slots: s}
}

// encodingV1 is the first byte of the binary encoding. A later layout gets
// a new number; UnmarshalBinary rejects numbers it does not know, and the
// caller then starts the visitor afresh.
const encodingV1 = 1

// ErrEncoding is wrapped by every UnmarshalBinary error.
var ErrEncoding = errors.New("model: bad visitor encoding")

// AppendBinary appends the compact encoding of v to b and returns the
// extended slice (encoding.BinaryAppender). A typical visitor of the
// default model takes 35-60 bytes:
//
//	version byte (1), layout fingerprint (2, LE), persona-list fingerprint
//	(2, LE), persona+1 (1), device code (1), then uvarints: first_seen,
//	last_seen-first_seen, events, sessions, deviced, mobile, catalog; the
//	campaign source and medium (uvarint length + bytes); the slot counts
//	nFeat, nCat, nMin, nEvt (1 byte each); a bitmap of the non-zero slots;
//	the non-zero slots as uvarints, recency relative to the visitor's
//	last minute or event count (last_seen-minute+1, events-ordinal+1) so
//	that it stays one or two bytes.
func (v *Visitor) AppendBinary(b []byte) ([]byte, error) {
	return v.appendBinary(b), nil
}

func (v *Visitor) appendBinary(b []byte) []byte {
	b = append(b, encodingV1)
	b = binary.LittleEndian.AppendUint16(b, v.layout)
	b = binary.LittleEndian.AppendUint16(b, v.roster)
	b = append(b, v.persona, v.device)
	b = binary.AppendUvarint(b, uint64(v.firstSeen))
	b = binary.AppendUvarint(b, uint64(v.lastSeen-v.firstSeen))
	b = binary.AppendUvarint(b, uint64(v.events))
	b = binary.AppendUvarint(b, uint64(v.sessions))
	b = binary.AppendUvarint(b, uint64(v.deviced))
	b = binary.AppendUvarint(b, uint64(v.mobile))
	b = binary.AppendUvarint(b, uint64(v.catalog))
	b = binary.AppendUvarint(b, uint64(len(v.campaignSource)))
	b = append(b, v.campaignSource...)
	b = binary.AppendUvarint(b, uint64(len(v.campaignMedium)))
	b = append(b, v.campaignMedium...)
	b = append(b, v.nFeat, v.nCat, v.nMin, v.nEvt)
	n := len(v.slots)
	start := len(b)
	for range (n + 7) / 8 {
		b = append(b, 0)
	}
	minBase := int(v.nFeat) + int(v.nCat)
	evtBase := minBase + int(v.nMin)
	for i, s := range v.slots {
		if s == 0 {
			continue
		}
		b[start+i/8] |= 1 << (i % 8)
		switch {
		case i >= evtBase:
			s = v.events - s + 1
		case i >= minBase:
			s = v.lastSeen - s + 1
		}
		b = binary.AppendUvarint(b, uint64(s))
	}
	return b
}

// MarshalBinary returns the compact encoding of v
// (encoding.BinaryMarshaler); AppendBinary avoids the allocation.
func (v *Visitor) MarshalBinary() ([]byte, error) {
	return v.appendBinary(make([]byte, 0, 64)), nil
}

// EncodedSize returns the length of v's encoding.
func (v *Visitor) EncodedSize() int {
	var buf [256]byte
	return len(v.appendBinary(buf[:0]))
}

// UnmarshalBinary replaces v with the visitor encoded in b
// (encoding.BinaryUnmarshaler). It reuses v's memory, never panics, and
// rejects anything AppendBinary cannot have written: an unknown version,
// truncated or trailing bytes, values out of range. On error v is reset to
// the zero visitor: the caller may carry on with it as a new visitor.
func (v *Visitor) UnmarshalBinary(b []byte) error {
	if err := v.decode(b); err != nil {
		v.Reset()
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u16() uint16 {
	if len(d.b) < 2 {
		d.fail("truncated")
		return 0
	}
	x := binary.LittleEndian.Uint16(d.b)
	d.b = d.b[2:]
	return x
}

func (d *decoder) u32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong " + what)
		return 0
	}
	d.b = d.b[n:]
	if x > math.MaxUint32 {
		d.fail(what + " out of range")
		return 0
	}
	return uint32(x)
}

// str decodes a length-prefixed string, reusing old when the bytes equal it
// (no allocation in the common case of an unchanged campaign).
func (d *decoder) str(old, what string) string {
	n := d.u32(what)
	if d.err != nil {
		return ""
	}
	if n > MaxCampaignLen || int(n) > len(d.b) {
		d.fail(what + " too long or truncated")
		return ""
	}
	raw := d.b[:n]
	d.b = d.b[n:]
	if !utf8.Valid(raw) {
		d.fail(what + " is not UTF-8")
		return ""
	}
	if string(raw) == old {
		return old
	}
	return string(raw)
}

func (v *Visitor) decode(b []byte) error {
	d := decoder{b: b}
	if ver := d.byte(); d.err == nil && ver != encodingV1 {
		return fmt.Errorf("unknown version %d", ver)
	}
	layout, roster := d.u16(), d.u16()
	persona, device := d.byte(), d.byte()
	first := d.u32("first_seen")
	span := d.u32("last_seen")
	events := d.u32("events")
	sessions := d.u32("sessions")
	deviced := d.u32("deviced")
	mobile := d.u32("mobile")
	catalog := d.u32("catalog")
	if d.err != nil {
		return d.err
	}
	if uint64(first)+uint64(span) > math.MaxUint32 {
		return errors.New("last_seen out of range")
	}
	if persona > MaxPersonas || int(device) > len(DeviceClasses) {
		return errors.New("persona or device out of range")
	}
	if mobile > deviced || deviced > events || sessions > events {
		return errors.New("inconsistent counts")
	}
	if layout == 0 && (events != 0 || persona != 0) {
		return errors.New("events without a layout")
	}
	src := d.str(v.campaignSource, "campaign_source")
	med := d.str(v.campaignMedium, "campaign_medium")
	nFeat, nCat, nMin, nEvt := d.byte(), d.byte(), d.byte(), d.byte()
	if d.err != nil {
		return d.err
	}
	if nFeat > MaxFeatures || nCat > MaxCategories || nMin > nFeat || nEvt > nFeat {
		return errors.New("slot counts out of range")
	}
	n := int(nFeat) + int(nCat) + int(nMin) + int(nEvt)
	nb := (n + 7) / 8
	if len(d.b) < nb {
		return errors.New("truncated bitmap")
	}
	bitmap := d.b[:nb]
	d.b = d.b[nb:]
	if n%8 != 0 && bitmap[nb-1]>>(n%8) != 0 {
		return errors.New("bitmap bits beyond the slots")
	}
	slots := v.slots[:0]
	if cap(slots) < n {
		slots = make([]uint32, 0, n)
	}
	last := first + span
	minBase := int(nFeat) + int(nCat)
	evtBase := minBase + int(nMin)
	for i := range n {
		var s uint32
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			s = d.u32("slot")
			if d.err != nil {
				return d.err
			}
			if s == 0 {
				return errors.New("zero slot marked non-zero")
			}
			switch {
			case i >= evtBase:
				if s > events {
					return errors.New("recency before the first event")
				}
				s = events - s + 1
			case i >= minBase:
				if s > last {
					return errors.New("recency before the epoch of time")
				}
				s = last - s + 1
			}
		}
		slots = append(slots, s)
	}
	if len(d.b) != 0 {
		return errors.New("trailing bytes")
	}
	*v = Visitor{
		layout: layout, roster: roster, persona: persona, device: device,
		firstSeen: first, lastSeen: last,
		events: events, sessions: sessions, deviced: deviced, mobile: mobile, catalog: catalog,
		campaignSource: src, campaignMedium: med,
		nFeat: nFeat, nCat: nCat, nMin: nMin, nEvt: nEvt,
		slots: slots,
	}
	return nil
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// satInc adds one, saturating at the largest uint32.
func satInc(x uint32) uint32 {
	if x == math.MaxUint32 {
		return x
	}
	return x + 1
}
