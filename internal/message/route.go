package message

import (
	"strings"

	"github.com/acme/cf-invalidator/internal/paths"
)

// objectOutcome is what became of one S3 object.
type objectOutcome struct {
	mapped  bool   // some distribution takes objects of this bucket and key
	known   bool   // the bucket is mapped, maybe under other prefixes
	err     error  // the first path error, if any distribution's path was invalid
	errDist string // the distribution err was for
}

// objectPaths adds to ts the paths of an S3 object for every distribution
// its bucket and key map to. keyErr, when set, says the key could not be
// decoded; key is then the raw key, used for mapping only.
func (d *Decoder) objectPaths(ts *targetSet, bucket, key string, keyErr error) objectOutcome {
	routes := d.match(bucket, key)
	if len(routes) == 0 {
		return objectOutcome{known: len(d.routes[bucket]) > 0}
	}
	if keyErr != nil {
		return objectOutcome{mapped: true, err: keyErr, errDist: routes[0].dist.ID}
	}
	o := objectOutcome{mapped: true}
	for _, r := range routes {
		ps, err := r.paths(key)
		if err != nil && o.err == nil {
			o.err, o.errDist = err, r.dist.ID
		}
		ts.add(r.dist.ID, ps...)
	}
	return o
}

// match returns the routes of bucket with the longest prefix key starts
// with: all of them, since one bucket and prefix may feed several
// distributions. Routes are sorted longest prefix first, and two matching
// prefixes of one length are equal (both are prefixes of key).
func (d *Decoder) match(bucket, key string) []route {
	var out []route
	for _, r := range d.routes[bucket] {
		if len(out) > 0 && len(r.prefix) < len(out[0].prefix) {
			break
		}
		if strings.HasPrefix(key, r.prefix) {
			out = append(out, r)
		}
	}
	return out
}

// paths returns the CloudFront paths of key for r's distribution: the key
// without the origin path, and with IndexDirectories also the directory of
// an index.html ("/blog/" for "blog/index.html", "/" for "index.html").
func (r route) paths(key string) ([]string, error) {
	k := stripOrigin(key, r.origin)
	p, err := paths.FromKey(k)
	if err != nil {
		return nil, err
	}
	if !r.dist.IndexDirectories || !isIndex(k) {
		return []string{p}, nil
	}
	dir, err := paths.FromKey(strings.TrimSuffix(k, "index.html"))
	if err != nil {
		return nil, err
	}
	return []string{p, dir}, nil
}

// stripOrigin removes the origin path from key. CloudFront requests
// origin + "/" + path from the bucket, so key "production/a.html" under
// origin "/production" is served as "/a.html". A key outside the origin
// path is kept whole.
func stripOrigin(key, origin string) string {
	if origin == "" {
		return key
	}
	if rest, ok := strings.CutPrefix(key, origin+"/"); ok {
		return rest
	}
	return key
}

func isIndex(key string) bool {
	return key == "index.html" || strings.HasSuffix(key, "/index.html")
}

// targetSet collects targets by distribution, paths deduplicated in
// first-seen order.
type targetSet struct {
	list  []Target
	index map[string]int
	seen  []map[string]bool
}

func (ts *targetSet) add(id string, ps ...string) {
	if len(ps) == 0 {
		return
	}
	i, ok := ts.index[id]
	if !ok {
		if ts.index == nil {
			ts.index = make(map[string]int)
		}
		i = len(ts.list)
		ts.index[id] = i
		ts.list = append(ts.list, Target{DistributionID: id})
		ts.seen = append(ts.seen, make(map[string]bool))
	}
	for _, p := range ps {
		if !ts.seen[i][p] {
			ts.seen[i][p] = true
			ts.list[i].Paths = append(ts.list[i].Paths, p)
		}
	}
}
