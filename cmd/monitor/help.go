package main

import "github.com/alecthomas/kong"

// helpCmd is `monitor help [VERB]`: the same text as `monitor [VERB] --help`, on stdout.
type helpCmd struct {
	Verb string `arg:"" optional:"" help:"The verb to describe."`
}

func (h helpCmd) Run(k *kong.Context) error {
	args := []string{"--help"}
	if h.Verb != "" {
		args = []string{h.Verb, "--help"}
	}
	if _, err := k.Kong.Parse(args); err != nil {
		return parseFailure(args, err)
	}
	return nil
}
