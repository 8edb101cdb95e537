package status

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestConsoleFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Num(0), "0"}, {Num(999), "999"}, {Num(2850), "2,850"}, {Num(int64(1234567)), "1,234,567"}, {Num(-3000), "-3,000"},
		{USD(0), "$0.00"}, {USD(4.2), "$4.20"}, {USD(1234.505), "$1,234.51"}, {USD(0.005), "$0.01"},
		{Age(850 * time.Millisecond), "850ms"}, {Age(42 * time.Second), "42s"}, {Age(4*time.Minute + 12*time.Second), "4m 12s"},
		{Age(3*time.Hour + 5*time.Minute), "3h 05m"}, {Age(52 * time.Hour), "2d 4h"}, {Age(-time.Second), "0ms"},
		{AgeOf(nil), "—"}, {AgeOf(D(65 * time.Second)), "1m 05s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	now := time.Date(2026, 5, 14, 10, 0, 0, 0, time.UTC)
	if got := Clock(now.Add(-time.Hour), now); got != "09:00:00" {
		t.Errorf("Clock same day = %q", got)
	}
	if got := Clock(now.Add(-24*time.Hour), now); got != "2026-05-13 10:00" {
		t.Errorf("Clock other day = %q", got)
	}
	if got := In(now.Add(6*time.Second), now); got != "in 6s" {
		t.Errorf("In = %q", got)
	}
	if got := In(now.Add(-time.Second), now); got != "due" {
		t.Errorf("In past = %q", got)
	}
	if got := Ago(now.Add(-90*time.Second), now); got != "1m 30s ago" {
		t.Errorf("Ago = %q", got)
	}
}

func TestConsoleTruncate(t *testing.T) {
	if got := Truncate("abc", 3); got != "abc" {
		t.Errorf("no cut: %q", got)
	}
	if got := Truncate("abcdef", 4); got != "abc…" {
		t.Errorf("cut: %q", got)
	}
	long := strings.Repeat("é", 200)
	got := Truncate(long, SampleLen)
	if n := utf8.RuneCountInString(got); n != SampleLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("multibyte cut: %d runes, valid %v: %q", n, utf8.ValidString(got), got)
	}
}

func TestConsolePrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain /path":                 "plain /path",
		"\x1b[31mred\x1b[0m":          `\x1b[31mred\x1b[0m`,
		"two\r\nlines":                `two\x0d\x0alines`,
		"csi\u009b2J":                 `csi\x9b2J`,
		"rtl\u202eevil":               `rtl\u202eevil`,
		"bad\xffutf8":                 `bad\ufffdutf8`,
		"ünïcode and 中文 stay":         "ünïcode and 中文 stay",
		"tab\tkept? no":               `tab\x09kept? no`,
		"<script>stays text</script>": "<script>stays text</script>",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
