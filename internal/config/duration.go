package config

import "time"

// ParseDuration parses a duration as the config file writes it: a Go duration with an
// optional leading day count ("90s", "4h", "7d", "1d12h"). The CLI uses it for --since and --for.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }
