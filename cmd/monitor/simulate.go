package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// simulateCmd serves a fake EngageLab balance API with scripted apps, plus a webhook sink at
// POST /demo/webhook that prints what it receives. It reads no config.
type simulateCmd struct {
	Listen   string `default:"127.0.0.1:8099" help:"Address to serve the fake API on (default ${default})." placeholder:"ADDR"`
	Scenario string `help:"Scenario file (default: the built-in demo)." placeholder:"FILE"`
	// WebhookSecret checks the sink's Standard Webhooks signatures.
	WebhookSecret string `help:"whsec_ secret to verify the sink's Standard Webhooks signatures with (default: not checked)." placeholder:"SECRET"`
}

func (c *simulateCmd) Run(ctx context.Context, e *env) error {
	var verifier *standardwebhooks.Webhook
	if c.WebhookSecret != "" {
		v, err := standardwebhooks.NewWebhook(c.WebhookSecret)
		if err != nil {
			return usagef("simulate: --webhook-secret is not a whsec_ secret: %w", err)
		}
		verifier = v
	}
	sc := fake.Demo()
	if c.Scenario != "" {
		var err error
		if sc, err = fake.Load(c.Scenario); err != nil {
			return usage(err)
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("simulate: listen on %s: %w", c.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", fake.New(sc, nil))
	// A webhook sink, so the demo shows the alerts it sends without any outside service.
	// Each alert is printed with its message and what became of its signature.
	mux.HandleFunc("POST /demo/webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var ev notify.Event
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		sig := "signature not checked"
		switch {
		case verifier == nil:
		case r.Header.Get("webhook-signature") == "":
			sig = "UNSIGNED"
		default:
			if err := verifier.Verify(body, r.Header); err != nil {
				sig = "signature INVALID: " + err.Error()
			} else {
				sig = "signature verified"
			}
		}
		fmt.Fprintf(e.stdout, "webhook received %s (%s): %s\n", ev.Type, sig, ev.Message)
		if strings.HasPrefix(sig, "signature INVALID") || sig == "UNSIGNED" {
			http.Error(w, sig, http.StatusUnauthorized)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "fake EngageLab balance API on http://%s/v1/balance with %d apps:\n", ln.Addr(), len(sc.Apps))
	for _, a := range sc.Apps {
		product := ""
		if a.Product == "sms" {
			product = " (product sms)"
		}
		fmt.Fprintf(e.stdout, "  %-12s dev_key %s%s\n", a.Name, a.DevKey, product)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}
