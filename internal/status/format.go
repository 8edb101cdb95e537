package status

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Formatting shared by the page and the terminal table. Every relative time
// is measured from the snapshot's At, so a page or a table renders the same
// way whenever it is rendered.

// Num writes n with thousands separators: 2850 → "2,850".
func Num[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// USD writes an amount of dollars: "$12.34", "$1,234.50".
func USD(v float64) string {
	cents := int64(v*100 + 0.5)
	if v < 0 {
		cents = int64(v*100 - 0.5)
	}
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%s.%02d", sign, Num(cents/100), cents%100)
}

// Age writes a duration the way an operator reads it: "850ms", "42s",
// "4m 12s", "3h 05m", "2d 4h".
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// AgeOf writes *d, or "—" when it is unknown.
func AgeOf(d *Duration) string {
	if d == nil {
		return "—"
	}
	return Age(time.Duration(*d))
}

// Clock writes t in UTC, with the date when it is not the day of now.
func Clock(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// Ago writes how long before now t was: "4m 12s ago".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return Age(now.Sub(t)) + " ago"
}

// In writes how long after now t is: "in 12s", or "due" when it is past.
func In(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if !t.After(now) {
		return "due"
	}
	return "in " + Age(t.Sub(now))
}

// Truncate shortens s to at most n characters (runes), marking a cut with
// "…". It never splits a UTF-8 sequence.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}

// Printable replaces control characters (an ANSI escape, a newline in a
// reason) and bidirectional overrides with a visible escape, so text from a
// message or an operator can neither move the cursor, recolour a terminal,
// nor reorder what a table shows.
func Printable(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x100 && unprintable(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unprintable(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unprintable(r rune) bool {
	return unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r)
}

// originText says who made an invalidation.
func originText(o string) string {
	switch o {
	case "own":
		return "this worker"
	case "fleet":
		return "another replica"
	case "other":
		return "someone else"
	}
	return "unknown"
}
