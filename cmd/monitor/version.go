package main

import "fmt"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// versionCmd is `monitor version`; `monitor --version` prints the same line.
type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

func versionLine() string { return "monitor " + version }
