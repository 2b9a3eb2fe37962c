package report

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// Period is the span of time a report covers, [From, To), always filled:
// what Options asked for, and where it left an end open, the span of the
// rows' own times, widened to whole days in Options.Location.
type Period struct {
	From, To time.Time
	// Basis says where the ends came from, in words for the report.
	Basis string
	loc   *time.Location
}

// Period returns the span the report covers (see Period).
func (res *Result) Period() Period {
	loc := res.Options.Location
	if loc == nil {
		loc = time.UTC
	}
	p := Period{From: res.Options.From, To: res.Options.To, loc: loc}
	var first, last time.Time
	for i := range res.Rows {
		t := res.Rows[i].Time()
		if t.IsZero() {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if last.IsZero() || t.After(last) {
			last = t
		}
	}
	dated := !first.IsZero()
	if !dated {
		// No row has a time: the report covers the day it was made.
		first, last = res.Meta.GeneratedAt, res.Meta.GeneratedAt
		if first.IsZero() {
			first, last = time.Now(), time.Now()
		}
	}
	startOfDay := func(t time.Time) time.Time {
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	asked := [2]bool{!p.From.IsZero(), !p.To.IsZero()}
	if !asked[0] {
		p.From = startOfDay(first)
	}
	if !asked[1] {
		p.To = startOfDay(last).AddDate(0, 0, 1)
	}
	// PENDING rows are kept whatever their time, so the data may reach
	// outside an asked end; the asked end still names the period.
	if !p.To.After(p.From) {
		p.To = startOfDay(p.From).AddDate(0, 0, 1)
	}
	switch {
	case asked == [2]bool{true, true}:
		p.Basis = "start and end as asked"
	case !dated:
		p.Basis = "no refund has a time: the day the report was generated"
	case asked[0]:
		p.Basis = "start as asked, end from the refunds' latest time"
	case asked[1]:
		p.Basis = "start from the refunds' earliest time, end as asked"
	default:
		p.Basis = "start and end from the refunds' earliest and latest times"
	}
	return p
}

// Days is the period as the days it covers, "2026-11-01" and "2026-11-30"
// for November: the day of From and the day of the last instant before To.
func (p Period) Days() (first, last string) {
	loc := p.loc
	if loc == nil {
		loc = time.UTC
	}
	return p.From.In(loc).Format(time.DateOnly), p.To.Add(-time.Nanosecond).In(loc).Format(time.DateOnly)
}

// String is "2026-11-01 to 2026-11-30", or the one day.
func (p Period) String() string {
	first, last := p.Days()
	if first == last {
		return first
	}
	return first + " to " + last
}

// ID names the report: "R" and its generation day, then 8 hex digits of a
// hash over what it was made from (each input's role, path, hash and
// record count, the options, the operator and the generation instant). It
// goes on every printed page, so a loose page can be matched to its
// report, and two reports made from the same inputs at different times
// are told apart.
func (res *Result) ID() string {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, s := range res.Meta.Sources {
		put(s.Role)
		put(s.Path)
		put(s.SHA256)
		put(strconv.Itoa(s.Records))
	}
	o := res.Options
	put(timeText(o.From))
	put(timeText(o.To))
	put(strconv.FormatInt(o.AmountTolerance, 10))
	if o.Location != nil {
		put(o.Location.String())
	}
	put(res.Meta.Operator)
	put(res.Meta.GeneratedAt.UTC().Format(time.RFC3339Nano))
	sum := h.Sum(nil)
	return "R" + res.Meta.GeneratedAt.UTC().Format("20060102") + "-" + hex.EncodeToString(sum[:4])
}
