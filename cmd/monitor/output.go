package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// checkFormat accepts the output formats of history and alerts.
func checkFormat(format string) error {
	if format != "table" && format != "csv" && format != "json" {
		return usagef("--format must be table, csv or json, not %q", format)
	}
	return nil
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeRows prints rows (header first) as CSV, or as a right-aligned table.
func writeRows(e *env, format string, rows [][]string) error {
	if format == "csv" {
		w := csv.NewWriter(e.stdout)
		_ = w.WriteAll(rows)
		return w.Error()
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	for i, r := range rows {
		line := strings.Join(r, "\t") + "\t"
		if i == 0 {
			line = strings.ToUpper(line)
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}

func rfcTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
