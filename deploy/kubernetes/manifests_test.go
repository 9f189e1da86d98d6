package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes one manifest into the API type of its kind, rejecting unknown or
// duplicate fields and wrongly typed values: what `kubectl apply --validate=strict` would
// reject, without a cluster or downloaded schemas.
func decodeStrict(t *testing.T, file string) any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("\n---")) {
		t.Fatalf("%s: one object per file, please", file)
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		t.Fatalf("%s: unexpected apiVersion/kind %q %q", file, tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return obj
}

type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
}

func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifests
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		switch o := decodeStrict(t, f).(type) {
		case *appsv1.Deployment:
			m.deployment = o
		case *corev1.Service:
			m.service = o
		case *corev1.ConfigMap:
			m.configMap = o
		case *corev1.Secret:
			m.secret = o
		case *policyv1.PodDisruptionBudget:
			m.pdb = o
		}
	}
	if m.deployment == nil || m.service == nil || m.configMap == nil || m.secret == nil || m.pdb == nil {
		t.Fatalf("missing manifests: %+v", m)
	}
	return m
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	for _, name := range []string{m.deployment.Name, m.service.Name, m.configMap.Name, m.secret.Name, m.pdb.Name} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("name %q: %v", name, errs)
		}
	}
}

// A strict decode does reject a misspelt field (the test above would catch one).
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	bad := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n")
	if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("misspelt field accepted: %v", err)
	}
}

func TestDeployment(t *testing.T) {
	m := load(t)
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if pod.Labels[k] != v {
			t.Errorf("the selector %s=%s does not match the pod labels %v", k, v, pod.Labels)
		}
	}
	for k, v := range m.service.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("the Service selector %s=%s does not match the pod labels", k, v)
		}
	}
	for k, v := range m.pdb.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("the PodDisruptionBudget selector %s=%s does not match the pod labels", k, v)
		}
	}
	want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}
	for k, v := range want {
		if pod.Annotations[k] != v {
			t.Errorf("pod annotation %s = %q, want %q", k, pod.Annotations[k], v)
		}
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: none", name)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %s on %s, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v, want http 8080", c.Ports)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem ||
		c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("container security context = %+v", c.SecurityContext)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 40 {
		t.Errorf("terminationGracePeriodSeconds = %v, want at least engagelab.timeout + 30 s", g)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
		if e.Value != "" && regexp.MustCompile(`(?i)token|secret|password|url`).MatchString(e.Name) {
			t.Errorf("env %s holds a value that looks like a secret: use the Secret", e.Name)
		}
	}
	if env["MONITOR_LOG_FORMAT"].Value != "json" {
		t.Errorf("MONITOR_LOG_FORMAT = %q, want json", env["MONITOR_LOG_FORMAT"].Value)
	}
	if r := env["CHECKOUT_DEV_KEY"].ValueFrom; r == nil || r.ConfigMapKeyRef == nil || r.ConfigMapKeyRef.Name != m.configMap.Name ||
		m.configMap.Data[r.ConfigMapKeyRef.Key] == "" {
		t.Errorf("CHECKOUT_DEV_KEY does not come from a key of the ConfigMap")
	}

	// The config file and the secrets are mounted where monitor.yaml and the args expect them.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	if v := volumes[mounts["/etc/monitor"]]; v.ConfigMap == nil || v.ConfigMap.Name != m.configMap.Name {
		t.Errorf("/etc/monitor is not the ConfigMap %s", m.configMap.Name)
	}
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/monitor/monitor.yaml"}) {
		t.Errorf("args = %q", c.Args)
	}
	v := volumes[mounts["/run/secrets"]]
	if v.Secret == nil || v.Secret.SecretName != m.secret.Name {
		t.Fatalf("/run/secrets is not the Secret %s", m.secret.Name)
	}
	// Every /run/secrets/NAME that monitor.yaml reads is a key of the Secret, and vice versa.
	var read []string
	for _, sm := range regexp.MustCompile(`/run/secrets/([a-z0-9_]+)`).FindAllStringSubmatch(m.configMap.Data["monitor.yaml"], -1) {
		read = append(read, sm[1])
	}
	var keys []string
	for k := range m.secret.StringData {
		keys = append(keys, k)
	}
	sort.Strings(read)
	sort.Strings(keys)
	if !slices.Equal(read, keys) {
		t.Errorf("monitor.yaml reads secrets %v, the Secret has %v", read, keys)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the service account token would be mounted under /var/run/secrets, beside our Secret")
	}
}

func TestService(t *testing.T) {
	s := load(t).service
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 8080 || s.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service ports = %+v", s.Spec.Ports)
	}
}

// The ConfigMap ships deploy/monitor.yaml as it is, so Compose and Kubernetes run one config.
func TestConfigMapIsTheComposeConfig(t *testing.T) {
	cm := load(t).configMap
	want, err := os.ReadFile("../monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["monitor.yaml"]; got != string(want) {
		t.Errorf("the ConfigMap's monitor.yaml differs from deploy/monitor.yaml; regenerate it:\n%s", fmt.Sprintf("got:\n%s\nwant:\n%s", got, want))
	}
}

// kubectl apply -k applies what kustomization.yaml lists: every manifest but the Secret.
func TestKustomization(t *testing.T) {
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Labels     []struct {
			Pairs map[string]string `json:"pairs"`
		} `json:"labels"`
		Resources []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob("*.yaml")
	var want []string
	for _, f := range files {
		if f != "kustomization.yaml" && f != "secret.yaml" {
			want = append(want, f)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources = %v, want %v", got, want)
	}
}
