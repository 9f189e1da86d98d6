package httpapi

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The committed chart library is the version web/package-lock.json pins (offline; `make
// assets-check` also compares the bytes with the registry's package after `npm ci`).
func TestVendoredUPlotMatchesLockfile(t *testing.T) {
	b, err := os.ReadFile("../../web/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	v := lock.Packages["node_modules/uplot"].Version
	if v == "" {
		t.Fatal("web/package-lock.json pins no uplot")
	}
	js, err := static.ReadFile("static/vendor/uplot/uPlot.iife.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/*! https://github.com/leeoniya/uPlot (v" + v + ") */"; !strings.HasPrefix(string(js), want) {
		t.Errorf("static/vendor/uplot/uPlot.iife.min.js starts %.60q; the lockfile pins %s: run make assets", js, v)
	}
	for _, f := range []string{"uPlot.min.css", "LICENSE"} {
		if b, err := static.ReadFile("static/vendor/uplot/" + f); err != nil || len(b) == 0 {
			t.Errorf("static/vendor/uplot/%s is missing: %v", f, err)
		}
	}
}
