package app_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// floors is the layout of the data path, lowest first: a package may import packages on its
// own floor or below, never above, so the domain never learns about storage, storage never
// about HTTP, and nothing but cmd about the assembled service.
var floors = map[string]int{
	// The domain: words and pure rules.
	"balance": 0, "spend": 0, "alert": 0,
	// A settable clock for tests.
	"clocktest": 0,
	"logtest":   0,
	// What talks to the world outside the database, and the config that describes it.
	"config": 1, "engagelab": 1, "engagelab/fake": 1, "notify": 1,
	// The only package that speaks SQL, and the test databases built on it.
	"store": 2, "pgtest": 2,
	// One step of the data path each.
	"evaluate": 3, "poller": 3, "delivery": 3, "retention": 3, "history": 3, "metrics": 3, "httpapi": 3,
	"watch": 3,
	// The assembled service.
	"app": 4,
	// The benchmark that runs the assembled service (cmd/bench, make bench).
	"bench": 4,
}

const module = "github.com/opsbalance/engagelab-monitor/internal/"

func floorOf(pkg string) (int, bool) {
	for p := pkg; p != "."; p = filepath.Dir(p) {
		if f, ok := floors[p]; ok {
			return f, true
		}
	}
	return 0, false
}

func TestNoPackageImportsAHigherFloor(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.Contains(path, "testdata") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		from, ok := floorOf(rel)
		if !ok {
			t.Errorf("package internal/%s has no floor: add it to floors (and the README's Development section)", rel)
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			to, ok := floorOf(strings.TrimPrefix(p, module))
			if ok && to > from {
				t.Errorf("%s (floor %d) imports %s (floor %d)", path, from, p, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
