package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// browser starts a headless Debian chromium for one test. Without chromium the test fails under
// CI=true (.ci/run installs it) and is skipped elsewhere, saying why.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: the browser tests need it under CI=true (apt-get install chromium)")
		}
		t.Skip("SKIPPED: chromium is not installed (apt-get install chromium); the dashboard's browser tests did not run")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// watch records what a user's console would show as an error and every request that leaves
// for a host other than the server's.
type watch struct {
	mu       sync.Mutex
	problems []string
	requests int
}

func watchPage(ctx context.Context, serverURL string) *watch {
	u, _ := url.Parse(serverURL)
	w := &watch{}
	chromedp.ListenTarget(ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				w.problems = append(w.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			w.problems = append(w.problems, "exception: "+ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError || ev.Entry.Level == log.LevelWarning {
				w.problems = append(w.problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			w.requests++
			r, err := url.Parse(ev.Request.URL)
			if err != nil || (r.Scheme != "data" && r.Host != u.Host) {
				w.problems = append(w.problems, "request to another host: "+ev.Request.URL)
			}
		}
	})
	return w
}

func (w *watch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		t.Error(p)
	}
	if w.requests < 3 {
		t.Errorf("the page made %d requests: the watch saw nothing", w.requests)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir, err := filepath.Abs("../../artifacts/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", filepath.Join(dir, name))
}

// ready waits until the page has drawn its data and sel is visible. Right after a navigation,
// chromedp can still address the old document's JavaScript context ("Cannot find context with
// specified id"): that is retried, not a failure of the page.
func ready(sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := chromedp.Poll(`window.dashboard && window.dashboard.ready === true`, nil, chromedp.WithPollingTimeout(time.Until(deadline))).Do(ctx)
			if err == nil || !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) {
				if err != nil {
					return err
				}
				return chromedp.WaitVisible(sel, chromedp.ByQuery).Do(ctx)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// clickRange picks a range and waits for its chart.
func clickRange(r string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`window.dashboard.chart = null`, nil),
		chromedp.Click(`#ranges button[data-range="`+r+`"]`, chromedp.ByQuery),
		chromedp.Poll(`window.dashboard.chart && window.dashboard.chart.range === "`+r+`"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	}
}

// seedDashboard stores, relative to the real clock (the browser draws ranges from its own):
//   - checkout (total_balance, config order first): healthy, one hour of snapshots a minute
//     apart with a 15-minute hole, and a top-up 10 minutes ago; latest 5,412.3456 USD.
//   - signup (alerts on balance): critical at 15.5000 paid + 3.0000 gift, silenced for 2 h.
//   - refunds: overdraft at -12.3400, last polled 30 minutes ago (stale for a 1-minute schedule).
func seedDashboard(t *testing.T, e *env) time.Time {
	t.Helper()
	realNow := time.Now().UTC()
	e.later.Store(int64(realNow.Sub(now))) // the server's clock is the browser's
	base := realNow.Truncate(time.Minute).Add(-60 * time.Minute)
	ts := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339) }
	amount := 5100.0
	for m := 0; m <= 60; m++ {
		if m > 20 && m < 36 { // the poller got nothing from 20 to 36 minutes in
			continue
		}
		switch {
		case m == 50:
			amount += 500 // recharged
		case m > 0:
			amount -= 3.5
		}
		bal := fmt.Sprintf("%.4f", amount)
		if m == 60 {
			bal = "5412.3456" // an amount a float would not keep to the last digit in every step
		}
		e.snap(t, "checkout", ts(time.Duration(m)*time.Minute), bal, "0")
	}
	for m := 30; m <= 60; m += 5 {
		e.snap(t, "signup", ts(time.Duration(m)*time.Minute), fmt.Sprintf("%d.5000", 15+60-m), "3.0000")
	}
	e.fire(t, "signup", alert.Money, alert.Level{Rule: alert.RuleLowBalance, Severity: alert.SeverityCritical}, ts(45*time.Minute),
		store.EventRecord{ID: "evt_01signup", Alert: alert.Money, Type: alert.Firing, Rule: alert.RuleLowBalance, Severity: alert.SeverityCritical,
			Since: base.Add(45 * time.Minute), At: base.Add(45 * time.Minute),
			Payload: []byte(`{"message":"signup: balance 30.5000 USD is below the critical threshold 20.0000 USD"}`)})
	if err := (&silencer{st: e.st, ids: e.ids}).Silence(context.Background(), "signup", realNow.Add(2*time.Hour), "recharge ordered"); err != nil {
		t.Fatal(err)
	}
	e.snap(t, "refunds", ts(0), "40.0000", "0")
	e.snap(t, "refunds", ts(30*time.Minute), "-12.3400", "0")
	e.fire(t, "refunds", alert.Money, overdraft, ts(30*time.Minute),
		store.EventRecord{ID: "evt_02refunds", Alert: alert.Money, Type: alert.Firing, Rule: alert.RuleOverdraft, Severity: alert.SeverityCritical,
			Since: base.Add(30 * time.Minute), At: base.Add(30 * time.Minute),
			Payload: []byte(`{"message":"refunds: total balance -12.3400 USD is below zero"}`)})
	e.fire(t, "checkout", alert.Money, alert.Level{}, ts(50*time.Minute),
		store.EventRecord{ID: "evt_03checkout", Alert: alert.Money, Type: alert.Resolved, Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning,
			Since: base.Add(5 * time.Minute), At: base.Add(50 * time.Minute),
			Payload: []byte(`{"message":"checkout: low balance resolved; total balance is now 5348.5000 USD"}`)},
		store.EventRecord{ID: "evt_04checkout", Alert: alert.Money, Type: alert.Topup, Severity: alert.SeverityInfo,
			Since: base.Add(50*time.Minute - time.Second), At: base.Add(50*time.Minute - time.Second),
			Payload: []byte(`{"message":"checkout: recharged +500.0000 USD, total now 5348.5000 USD"}`)})
	return base
}

func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	base := seedDashboard(t, e)
	w := watchPage(ctx, e.url)
	if err := chromedp.Run(ctx, log.Enable(), network.Enable()); err != nil {
		t.Fatal(err)
	}

	var (
		order    []string
		selected string
		totals   map[string]string
		parts    map[string]string
	)
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/"),
		ready(`.thr[data-threshold="warning"]`),
		chromedp.Evaluate(`[...document.querySelectorAll("#apps .app")].map(b => b.dataset.app)`, &order),
		chromedp.Evaluate(`document.querySelector('#apps .app[aria-current="true"]').dataset.app`, &selected),
		chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll("#apps .app")].map(b => [b.dataset.app, b.querySelector(".total").textContent]))`, &totals),
		chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll("#apps .app")].map(b => [b.dataset.app, b.querySelector(".parts").textContent]))`, &parts),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("worst first, worst selected", func(t *testing.T) {
		if want := []string{"refunds", "signup", "checkout"}; !slices.Equal(order, want) {
			t.Errorf("apps in order %v, want %v", order, want)
		}
		if selected != "refunds" {
			t.Errorf("selected %q, want refunds", selected)
		}
	})
	t.Run("exact amounts", func(t *testing.T) {
		// The headline is the amount the thresholds apply to: signup alerts on its paid balance.
		want := map[string]string{"checkout": "5,412.3456 USD", "signup": "15.5000 USD", "refunds": "−12.3400 USD"}
		for k, v := range want {
			if totals[k] != v {
				t.Errorf("%s shows %q, want %q", k, totals[k], v)
			}
		}
		if parts["signup"] != "total 18.5000 · paid 15.5000 · gift 3.0000" {
			t.Errorf("signup's parts: %q", parts["signup"])
		}
	})

	var text string
	var thresholds []string
	if err := chromedp.Run(ctx,
		chromedp.Text("#detail", &text, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#chart .thr")].map(l => l.dataset.threshold + " " + l.textContent)`, &thresholds),
	); err != nil {
		t.Fatal(err)
	}
	t.Run("refunds: stale, overdraft line", func(t *testing.T) {
		for _, want := range []string{"stale: last snapshot 3", " min old", "overdraft (critical)", "−12.3400 USD"} {
			if !strings.Contains(text, want) {
				t.Errorf("detail lacks %q:\n%s", want, text)
			}
		}
		want := []string{"warning warning 100.0000", "critical critical 20.0000", "zero zero", "overdraft −overdraft limit −200.0000"}
		if !slices.Equal(thresholds, want) {
			t.Errorf("threshold labels %q, want %q", thresholds, want)
		}
	})
	screenshot(t, ctx, "desktop-1280x900.png")

	// checkout, 1 h: every snapshot, with the hole left empty and the top-up marked.
	var line []*float64
	var xs []float64
	var tops int
	var readoutText string
	if err := chromedp.Run(ctx,
		chromedp.Click(`#apps .app[data-app="checkout"]`, chromedp.ByQuery),
		clickRange("1h"),
		chromedp.Evaluate(`window.dashboard.plot.data[3]`, &line),
		chromedp.Evaluate(`window.dashboard.plot.data[0]`, &xs),
		chromedp.Evaluate(`window.dashboard.plot.data[4].filter(v => v != null).length`, &tops),
		chromedp.Evaluate(`[...document.querySelectorAll("#chart .thr")].map(l => l.dataset.threshold + " " + l.textContent)`, &thresholds),
	); err != nil {
		t.Fatal(err)
	}
	t.Run("a gap is a gap", func(t *testing.T) {
		holeFrom, holeTo := float64(base.Add(20*time.Minute).Unix()), float64(base.Add(36*time.Minute).Unix())
		var inHole, nulls int
		for i, x := range xs {
			if x > holeFrom && x < holeTo {
				inHole++
				if line[i] == nil {
					nulls++
				}
			}
		}
		if nulls != 1 || inHole != 1 {
			t.Errorf("%d points inside the 16-minute hole, %d of them null; want exactly one null break", inHole, nulls)
		}
		if n := len(line) - nulls; n != 45 { // minutes 1 to 60 but the 15 of the hole; minute 0 is just over an hour ago
			t.Errorf("%d points drawn, want the hour's 45 snapshots", n)
		}
	})
	t.Run("top-up marked", func(t *testing.T) {
		if tops != 1 {
			t.Errorf("%d top-up marks, want 1", tops)
		}
	})
	t.Run("threshold lines", func(t *testing.T) {
		// Far above the thresholds, the chart still shows them, so the distance to them is seen.
		want := []string{"warning warning 100.0000", "critical critical 20.0000", "zero zero"}
		if !slices.Equal(thresholds, want) {
			t.Errorf("threshold labels %q, want %q", thresholds, want)
		}
	})
	t.Run("hover readout is exact", func(t *testing.T) {
		// Point at the right edge of the plot: the last snapshot.
		err := chromedp.Run(ctx,
			chromedp.Evaluate(`(() => { const o = document.querySelector("#chart .u-over"), r = o.getBoundingClientRect();
			  o.dispatchEvent(new MouseEvent("mousemove", {clientX: r.right - 1, clientY: r.top + r.height / 2, bubbles: true})); })()`, nil),
			chromedp.Poll(`document.getElementById("readout-value") !== null`, nil, chromedp.WithPollingTimeout(5*time.Second)),
			chromedp.Text("#readout", &readoutText, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(readoutText, "total balance 5,412.3456 USD") {
			t.Errorf("readout %q lacks the exact last amount", readoutText)
		}
	})

	t.Run("7 d on one hour of history shows its points", func(t *testing.T) {
		var n int
		var xmin, xmax float64
		var step string
		err := chromedp.Run(ctx,
			clickRange("7d"),
			chromedp.Evaluate(`window.dashboard.plot.data[3].filter(v => v != null).length`, &n),
			chromedp.Evaluate(`window.dashboard.plot.scales.x.min`, &xmin),
			chromedp.Evaluate(`window.dashboard.plot.scales.x.max`, &xmax),
			chromedp.Evaluate(`window.dashboard.chart.step`, &step),
		)
		if err != nil {
			t.Fatal(err)
		}
		if n < 30 {
			t.Errorf("7 d view draws %d points (step %s), want the hour's points", n, step)
		}
		if span := xmax - xmin; span > 3*3600 {
			t.Errorf("7 d view spans %.0f s of x axis for an hour of history: the points are a sliver", span)
		}
	})

	t.Run("events across apps, filterable, resolved not red", func(t *testing.T) {
		var apps []string
		var resolvedColor, topupColor, critColor string
		err := chromedp.Run(ctx,
			chromedp.Evaluate(`[...document.querySelectorAll("#events li")].map(l => l.dataset.app)`, &apps),
			chromedp.Evaluate(`getComputedStyle(document.querySelector('#events li[data-type="alert.resolved"] .ev-type')).color`, &resolvedColor),
			chromedp.Evaluate(`getComputedStyle(document.querySelector('#events li[data-type="balance.topup"] .ev-type')).color`, &topupColor),
			chromedp.Evaluate(`getComputedStyle(document.querySelector('#events li[data-type="alert.firing"] .t-critical')).color`, &critColor),
		)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"checkout", "checkout", "signup", "refunds"}; !slices.Equal(apps, want) {
			t.Errorf("events of apps %v, want %v (newest first, every app)", apps, want)
		}
		var title, shown string
		if err := chromedp.Run(ctx,
			chromedp.Evaluate(`document.querySelector('#events li[data-app="refunds"] time').title`, &title),
			chromedp.Evaluate(`document.querySelector('#events li[data-app="refunds"] time').textContent`, &shown),
		); err != nil {
			t.Fatal(err)
		}
		// Local time to read, UTC on hover (the test browser runs in UTC, so only the shape differs).
		if want := base.Add(30*time.Minute).Format("2006-01-02 15:04:05") + " UTC"; title != want || shown == "" || strings.Contains(shown, "UTC") {
			t.Errorf("event time shows %q with title %q; want a local time with title %q", shown, title, want)
		}
		if resolvedColor == critColor || topupColor == critColor || critColor == "" {
			t.Errorf("a resolved event is drawn in %s, a top-up in %s, the critical colour is %s", resolvedColor, topupColor, critColor)
		}
		err = chromedp.Run(ctx,
			chromedp.SetValue("#event-filter", "signup", chromedp.ByQuery),
			chromedp.Evaluate(`document.getElementById("event-filter").dispatchEvent(new Event("change"))`, nil),
			chromedp.Poll(`[...document.querySelectorAll("#events li")].every(l => l.dataset.app === "signup")`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		)
		if err != nil {
			t.Errorf("filtering events by app: %v", err)
		}
	})

	t.Run("silence reason and end", func(t *testing.T) {
		var note string
		err := chromedp.Run(ctx,
			chromedp.Click(`#apps .app[data-app="signup"]`, chromedp.ByQuery),
			chromedp.WaitVisible("#silence-note", chromedp.ByQuery),
			chromedp.Text("#silence-note", &note, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(note, "Silenced until") || !strings.Contains(note, "recharge ordered") || !strings.Contains(note, "left") {
			t.Errorf("silence note %q", note)
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		var now string
		err := chromedp.Run(ctx,
			chromedp.Focus(`#apps .app[data-app="signup"]`, chromedp.ByQuery),
			chromedp.KeyEvent(kb.ArrowUp),
			chromedp.Evaluate(`document.activeElement.dataset.app + " " + document.querySelector('#apps .app[aria-current="true"]').dataset.app`, &now),
		)
		if err != nil {
			t.Fatal(err)
		}
		if now != "refunds refunds" {
			t.Errorf("after ArrowUp from signup: focus and selection %q, want refunds", now)
		}
	})

	t.Run("phone: no sideways scroll", func(t *testing.T) {
		var scrollWidth int
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3)),
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(e.url+"/#app=checkout"),
			ready(`.thr[data-threshold="warning"]`),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth),
		)
		if err != nil {
			t.Fatal(err)
		}
		if scrollWidth > 390 {
			t.Errorf("page is %d px wide at 390 px", scrollWidth)
		}
		screenshot(t, ctx, "phone-390x844.png")
		err = chromedp.Run(ctx,
			chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth),
		)
		if err != nil {
			t.Fatal(err)
		}
		if scrollWidth > 360 {
			t.Errorf("page is %d px wide at 360 px", scrollWidth)
		}
	})

	t.Run("dark mode", func(t *testing.T) {
		var bg string
		err := chromedp.Run(ctx,
			emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
			chromedp.EmulateViewport(1280, 900),
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(e.url+"/"),
			ready(`.thr[data-threshold="warning"]`),
			chromedp.Evaluate(`getComputedStyle(document.body).backgroundColor`, &bg),
		)
		if err != nil {
			t.Fatal(err)
		}
		if bg != "rgb(15, 20, 32)" {
			t.Errorf("body background %s in dark mode, want rgb(15, 20, 32)", bg)
		}
		screenshot(t, ctx, "desktop-dark-1280x900.png")
	})
	w.check(t)
}

// Slack's "Open dashboard" button links to /#app=NAME; the login in between keeps it, and
// logout ends the session.
func TestDashboardDeepLinkThroughLogin(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, readToken)
	seedDashboard(t, e)
	w := watchPage(ctx, e.url)
	if err := chromedp.Run(ctx, log.Enable(), network.Enable()); err != nil {
		t.Fatal(err)
	}
	var hash, selected, title string
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/#app=checkout"),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", readToken.Token.Reveal(), chromedp.ByQuery),
		chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
		ready(`#logout`),
		chromedp.Poll(`document.querySelector('#apps .app[aria-current="true"]') !== null`, nil),
		chromedp.Evaluate(`location.hash`, &hash),
		chromedp.Evaluate(`document.querySelector('#apps .app[aria-current="true"]').dataset.app`, &selected),
	)
	if err != nil {
		t.Fatal(err)
	}
	if hash != "#app=checkout" || selected != "checkout" {
		t.Errorf("after login: hash %q, selected %q; want checkout (not the worst app, refunds)", hash, selected)
	}
	err = chromedp.Run(ctx,
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.Title(&title),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "Sign in") {
		t.Errorf("after logout the dashboard shows %q", title)
	}
	w.check(t)
}

// The spend figures are the API's "spend" object as given: the server's own strings, and a
// fixed object in the contract's shape (injected into the apps answer) for an exact runway.
func TestDashboardSpendFigures(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	seedDashboard(t, e)
	var apps struct {
		Apps []struct {
			Name  string `json:"name"`
			Spend *struct {
				BurnRate24h   *string `json:"burn_rate_24h"`
				RunwaySeconds *int64  `json:"runway_seconds"`
			} `json:"spend"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(e.get(t, "/api/v1/apps").body), &apps); err != nil {
		t.Fatal(err)
	}
	var fromServer string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/#app=checkout"),
		ready(`.thr[data-threshold="warning"]`),
		chromedp.Text(`#apps .app[data-app="checkout"]`, &fromServer, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps.Apps {
		if a.Name != "checkout" {
			continue
		}
		if a.Spend == nil || a.Spend.BurnRate24h == nil {
			t.Fatalf("the server gave checkout no 24 h burn rate: %+v", a.Spend)
		}
		if want := *a.Spend.BurnRate24h + " USD/h"; !strings.Contains(fromServer, want) {
			t.Errorf("checkout's card %q lacks the server's burn rate %q", fromServer, want)
		}
		if a.Spend.RunwaySeconds != nil && !strings.Contains(fromServer, "runs dry in ~") {
			t.Errorf("checkout's card %q lacks the runway of %d s", fromServer, *a.Spend.RunwaySeconds)
		}
	}

	inject := `(() => {
	  const real = window.fetch;
	  window.fetch = async (url, opts) => {
	    const r = await real(url, opts);
	    if (!String(url).startsWith("/api/v1/apps?") && String(url) !== "/api/v1/apps") return r;
	    const body = await r.json();
	    for (const a of body.apps) if (a.name === "checkout") a.spend = {burn_rate_1h: "3.5000", burn_rate_24h: "2.5000", burn_rate_7d: null,
	      runway_seconds: 50400, runs_dry_at: "2026-11-28T12:00:00Z", spent_today: "12.3400", last_topup: {at: "2026-11-27T10:00:00Z", amount: "500.0000"}};
	    return new Response(JSON.stringify(body), {status: r.status, headers: {"Content-Type": "application/json"}});
	  };
	})()`
	var card, detail string
	if err := chromedp.Run(ctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(inject).Do(ctx)
			return err
		}),
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(e.url+"/#app=checkout"),
		ready(`.thr[data-threshold="warning"]`),
		chromedp.Text(`#apps .app[data-app="checkout"]`, &card, chromedp.ByQuery),
		chromedp.Text(`#facts`, &detail, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card, "2.5000 USD/h · runs dry in ~14 h") {
		t.Errorf("checkout card shows %q", card)
	}
	for _, want := range []string{"2.5000 USD/h", "over 24 h", "runs dry in ~14 h", "12.3400 USD", "+500.0000 USD"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, detail)
		}
	}
}
