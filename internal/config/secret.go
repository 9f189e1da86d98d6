package config

import "log/slog"

// Secret is a credential from the config file. Every way of printing it
// (fmt verbs, slog, JSON, YAML) shows "***", so a config logged or dumped by
// mistake leaks nothing; code that needs the value calls Reveal.
type Secret string

const redacted = "***"

// Reveal returns the secret itself, for the one place that sends it upstream.
func (s Secret) Reveal() string { return string(s) }

// String returns "***", or "" when the secret is not set (so "missing" stays visible).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// LogValue keeps slog handlers from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText covers encoders that know only encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
