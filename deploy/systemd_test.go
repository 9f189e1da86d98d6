package deploy

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// unitValues returns the values of key in a systemd unit, in order.
func unitValues(unit, key string) []string {
	var out []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// `systemd-analyze verify` (scripts/check-deploy.sh) checks the unit's syntax; this checks that
// it and deploy/systemd/monitor.yaml agree: each credential the config reads is loaded, and the
// config is valid with the credentials where systemd puts them.
func TestSystemdUnitAndConfig(t *testing.T) {
	raw, err := os.ReadFile("systemd/monitor.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for key, want := range map[string]string{
		"Type":            "simple",
		"ExecStart":       "/usr/local/bin/monitor serve --config /etc/engagelab-monitor/monitor.yaml",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"DynamicUser":     "yes",
		"ProtectSystem":   "strict",
		"NoNewPrivileges": "yes",
		"Environment":     "MONITOR_LOG_FORMAT=json",
		// A config mistake (exit 2) is not restarted; SIGHUP reloads (see the unit).
		"RestartPreventExitStatus": "2",
		"Restart":                  "always",
	} {
		if got := unitValues(unit, key); !slices.Equal(got, []string{want}) {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	loaded := map[string]bool{}
	for _, v := range unitValues(unit, "LoadCredential") {
		name, path, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(path, "/etc/engagelab-monitor/credentials/") {
			t.Errorf("LoadCredential=%s: want NAME:/etc/engagelab-monitor/credentials/NAME", v)
		}
		loaded[name] = true
	}

	cfgRaw, err := os.ReadFile("systemd/monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, m := range regexp.MustCompile(`\$\{CREDENTIALS_DIRECTORY\}/([a-z0-9_]+)`).FindAllStringSubmatch(string(cfgRaw), -1) {
		read = append(read, m[1])
	}
	var names []string
	for n := range loaded {
		names = append(names, n)
	}
	sort.Strings(read)
	sort.Strings(names)
	if !slices.Equal(read, names) {
		t.Errorf("monitor.yaml reads credentials %v, the unit loads %v", read, names)
	}

	dir := t.TempDir()
	secrets := map[string]string{}
	for _, n := range names {
		secrets[n] = "value-of-" + n
	}
	secrets["database_url"] = "postgres://monitor:pw@127.0.0.1:5432/monitor"
	secrets["slack_webhook_url"] = "https://hooks.slack.com/services/T/B/x"
	cfg := parseWithSecrets(t, cfgRaw, "${CREDENTIALS_DIRECTORY}/", secrets, nil)
	if cfg.Database.URL.Reveal() != secrets["database_url"] || cfg.Apps[0].DevSecret.Reveal() != "value-of-checkout_dev_secret" {
		t.Error("the credentials were not read from their files")
	}
	// And through the variable itself, as systemd sets it.
	for n, v := range secrets {
		if err := os.WriteFile(dir+"/"+n, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := func(k string) (string, bool) {
		if k == "CREDENTIALS_DIRECTORY" {
			return dir, true
		}
		return "", false
	}
	if _, err := config.Parse(cfgRaw, env, "/etc/engagelab-monitor"); err != nil {
		t.Errorf("with $CREDENTIALS_DIRECTORY set: %v", err)
	}
}
