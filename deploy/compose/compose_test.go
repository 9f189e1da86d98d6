package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func load(t *testing.T, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(env), cli.WithProfiles(profiles), cli.WithName("engagelab"))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

var minimalEnv = []string{"CHECKOUT_DEV_KEY=the-dev-key"}

// `docker compose up` and `docker compose --profile observability up` would accept the file.
func TestComposeLoads(t *testing.T) {
	p, err := load(t, minimalEnv)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if got := p.ServiceNames(); !slices.Equal(got, []string{"monitor", "postgres"}) {
		t.Errorf("services without a profile = %v, want [monitor postgres]", got)
	}
	p, err = load(t, minimalEnv, "observability")
	if err != nil {
		t.Fatalf("docker-compose.yml with --profile observability: %v", err)
	}
	if got := p.ServiceNames(); !slices.Equal(got, []string{"grafana", "monitor", "postgres", "prometheus"}) {
		t.Errorf("services with the observability profile = %v", got)
	}

	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
		for _, sec := range s.Secrets {
			def, ok := p.Secrets[sec.Source]
			if !ok || def.File == "" || def.Environment != "" {
				t.Errorf("%s: secret %s is not read from a file", s.Name, sec.Source)
			}
			if !strings.HasPrefix(def.File, filepath.Join(p.WorkingDir, "deploy", "secrets")+string(os.PathSeparator)) {
				t.Errorf("secret %s is read from %s, want deploy/secrets/", sec.Source, def.File)
			}
		}
	}
	m := p.Services["monitor"]
	if hc := m.HealthCheck; hc == nil || !slices.Equal(hc.Test[:3], []string{"CMD", "/usr/local/bin/monitor", "healthcheck"}) {
		t.Errorf("monitor healthcheck = %+v", m.HealthCheck)
	}
	if v := m.Environment["MONITOR_LOG_FORMAT"]; v == nil || *v != "json" {
		t.Errorf("MONITOR_LOG_FORMAT = %v", v)
	}
	if v := m.Environment["CHECKOUT_DEV_KEY"]; v == nil || *v != "the-dev-key" {
		t.Errorf("CHECKOUT_DEV_KEY = %v, want it from the environment", v)
	}
}

// The dev key is required; the bind address, port and secrets directory can be changed.
func TestComposeVariables(t *testing.T) {
	if _, err := load(t, nil); err == nil || !strings.Contains(err.Error(), "set CHECKOUT_DEV_KEY") {
		t.Errorf("without CHECKOUT_DEV_KEY: %v, want the file's own message", err)
	}
	p, err := load(t, append(slices.Clone(minimalEnv), "MONITOR_BIND=0.0.0.0", "MONITOR_PORT=8080-8081", "MONITOR_SECRETS_DIR=/srv/secrets"))
	if err != nil {
		t.Fatal(err)
	}
	port := p.Services["monitor"].Ports[0]
	if port.HostIP != "0.0.0.0" || port.Published != "8080-8081" {
		t.Errorf("monitor port = %+v, want 0.0.0.0:8080-8081", port)
	}
	if f := p.Secrets["database_url"].File; f != "/srv/secrets/database_url" {
		t.Errorf("database_url from %s", f)
	}
}
