package engagelab

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
)

// Error is every failure Client.Balance returns. It never holds the dev_secret
// or the Authorization header: upstream text is scrubbed of both before it is kept.
type Error struct {
	Kind       balance.FailureKind
	HTTPStatus int    // 0 when no response arrived
	Code       int    // EngageLab code when the body had one, else 0
	Message    string // upstream message (one line, truncated) or our description
	Err        error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	if e.Code != 0 {
		detail := fmt.Sprintf("HTTP %d, code %d", e.HTTPStatus, e.Code)
		if e.Message != "" {
			detail += ": " + e.Message
		}
		return fmt.Sprintf("engagelab: %s (%s)", title(e.Kind), detail)
	}
	s := "engagelab: " + e.Message
	// For connection failures the cause is the story (which dial, which deadline);
	// for answers, Message already says what was wrong with them.
	if e.Err != nil && (e.Kind == balance.Timeout || e.Kind == balance.Network) {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying again soon may succeed.
//
// An invalid 200 answer is not transient: it comes from a wrong base URL (a
// captive portal, a proxy page) or a changed upstream contract, and asking again
// within the same poll would only double the load; the next poll tries anyway.
func (e *Error) Transient() bool {
	switch e.Kind {
	case balance.ServerError, balance.Timeout, balance.Network:
		return true
	case balance.UnexpectedStatus:
		return e.HTTPStatus == 429 || e.HTTPStatus == 408
	}
	return false
}

// title names the kinds whose errors carry an EngageLab code.
func title(k balance.FailureKind) string {
	switch k {
	case balance.AuthFailed:
		return "authentication failed"
	case balance.AppUnavailable:
		return "application unavailable"
	case balance.ServerError:
		return "server error"
	case balance.UnexpectedStatus:
		return "unexpected status"
	}
	return string(k)
}

// normalise turns upstream text into a single printable line, so an HTML page or
// a multi-line message cannot break logs: control and other unprintable
// characters go, and every run of white space becomes one space.
func normalise(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case r == utf8.RuneError || !unicode.IsPrint(r):
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// cut keeps at most max runes of s, adding "..." when it cuts.
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "..."
}
