package main

import (
	"net/http"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/monitor"
)

// handler builds the HTTP API for serve.
var handler func(monitor.Parts) http.Handler

func checkListen(cfg *config.Config) error { return nil }
