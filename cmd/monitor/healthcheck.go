package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthcheckCmd asks a running service's /readyz once: exit 0 when it is ready, 1 otherwise.
// The distroless image has no shell and no curl, so the binary probes itself (the Dockerfile's
// HEALTHCHECK, Compose). It reads no config: a probe must not depend on secrets being readable,
// and must stay cheap.
type healthcheckCmd struct {
	URL     string        `default:"http://127.0.0.1:8080/readyz" help:"Readiness URL to probe (default ${default})." placeholder:"URL"`
	Timeout time.Duration `default:"3s" help:"Give up after this long (default ${default})."`
}

func (c *healthcheckCmd) Run(ctx context.Context, e *env) error {
	if c.Timeout <= 0 {
		return usagef("healthcheck: --timeout must be positive, like 3s")
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	return healthcheck(ctx, c.URL, e.stdout)
}

// healthcheck asks url once. A 2xx answer is ready: it prints one line to stdout and returns
// nil. Anything else (another status, no answer, a timeout) is an error of one sentence, which
// the caller turns into exit status 1.
func healthcheck(ctx context.Context, target string, stdout io.Writer) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("healthcheck: --url %q is not an absolute http(s) URL", target)
	}
	// Only scheme, host and path are ever printed: a query string may carry a credential.
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("not ready: %s: %w", shown, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the sentence, without its query
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("not ready: %s did not answer in time", shown)
		}
		return fmt.Errorf("not ready: %s is unreachable: %v", shown, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("not ready: %s answered %s", shown, resp.Status)
		// The service says why in {"error": "..."}; keep it to one line.
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg += ": " + strings.Join(strings.Fields(e.Error), " ")
		}
		return errors.New(msg)
	}
	fmt.Fprintf(stdout, "ready: %s answered %s\n", shown, resp.Status)
	return nil
}
