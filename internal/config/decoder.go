package config

import "github.com/acme/cf-invalidator/internal/message"

// DecoderOptions returns the message decoder's options for c: the
// allow-listed distributions (with their aliases, S3 mappings and
// index_directories), the tenants, allow_all_distributions and
// max_paths_per_message.
func (c Config) DecoderOptions() message.Options {
	o := message.Options{AllowAll: c.AllowAllDistributions, MaxPathsPerMessage: c.MaxPathsPerMessage}
	for _, d := range c.Distributions {
		md := message.Distribution{ID: d.ID, Aliases: d.Aliases, IndexDirectories: c.IndexDirectories(d)}
		for _, s := range d.S3 {
			md.S3 = append(md.S3, message.S3Source{Bucket: s.Bucket, Prefix: s.Prefix, OriginPath: s.OriginPath})
		}
		o.Distributions = append(o.Distributions, md)
	}
	for _, t := range c.Tenants {
		o.Tenants = append(o.Tenants, message.Tenant{ID: t.ID, Aliases: t.Aliases, Distribution: t.Distribution})
	}
	return o
}
