package testenv

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// BenchInt is the benchmark knob key from the environment: a positive
// integer, def when unset. A malformed value fails the benchmark.
func BenchInt(tb testing.TB, key string, def int) int {
	tb.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}

// BenchNames is the benchmark knob key from the environment: a
// comma-separated list of names from known, def when unset. An unknown
// name fails the benchmark.
func BenchNames(tb testing.TB, key, def string, known ...string) []string {
	tb.Helper()
	v := os.Getenv(key)
	if v == "" {
		v = def
	}
	names := strings.Split(v, ",")
	for _, n := range names {
		if !slices.Contains(known, n) {
			tb.Fatalf("%s: unknown %q (want %s)", key, n, strings.Join(known, ", "))
		}
	}
	return names
}
