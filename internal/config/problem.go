package config

import (
	"fmt"
	"strings"
)

// problem is one configuration mistake: one line of the joined error.
type problem struct {
	key string // what the user wrote: "window", "distributions[1].id", "INVALIDATOR_WINDOW"; "" for the file as a whole
	msg string
}

func (p *problem) Error() string {
	if p.key == "" {
		return "config: " + p.msg
	}
	return "config: " + p.key + ": " + p.msg
}

func problemf(key, format string, args ...any) error {
	return &problem{key: key, msg: fmt.Sprintf(format, args...)}
}

// join appends a sub-key to a key path; an empty path is the top level.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// didYouMean returns `, did you mean "x"?` for the candidate closest to
// name, or "" when none is close enough to be a plausible typo. show
// formats the candidate, e.g. as its environment variable.
func didYouMean(name string, candidates []string, show func(string) string) string {
	if now, ok := renamed[name]; ok {
		return fmt.Sprintf(" (renamed: %s)", now)
	}
	best, bestDist := "", len(name)/2+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", show(best))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

// renamed keys of earlier releases, with what replaces them, so an old
// config fails with a way forward rather than a guess.
var renamed = map[string]string{
	"quota_cache_ttl": `CloudFront's shared view replaced the quota cache: "view_max_age" bounds how old it may be when a submission reads it, "view_refresh" how often it is refreshed while there is work`,
}
