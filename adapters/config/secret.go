package config

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret holds a credential. Every way of printing it — fmt verbs, slog,
// encoding/json — shows [REDACTED]; the value sits behind a pointer so that
// even reflection-based printing of a struct holding a Secret shows an
// address, not the value.
type Secret struct{ box *secretBox }

type secretBox struct{ v string }

const redacted = "[REDACTED]"

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{&secretBox{v}} }

// Reveal returns the value, for the one place that must send it.
func (s Secret) Reveal() string {
	if s.box == nil {
		return ""
	}
	return s.box.v
}

// IsZero reports whether no value is held.
func (s Secret) IsZero() bool { return s.box == nil || s.box.v == "" }

func (Secret) String() string               { return redacted }
func (Secret) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
