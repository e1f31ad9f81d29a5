package runtime

import (
	"strings"
	"testing"
)

func TestParseShebang(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"#!/bin/sh\necho", "/bin/sh"},
		{"#! /usr/bin/env python3 -u\n", "/usr/bin/env"},
		{"#!\n", ""},
		{"\x7fELF", ""},
		{"", ""},
		{"#!/bin/bash", "/bin/bash"},
	} {
		if got := parseShebang([]byte(tt.in)); got != tt.want {
			t.Errorf("parseShebang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseShebang: an image's file content never panics the init, and the
// interpreter is a single word from the first line.
func FuzzParseShebang(f *testing.F) {
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte("#!  /x  y\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := parseShebang(b)
		if strings.ContainsAny(got, " \t\n") {
			t.Fatalf("interpreter %q has blanks", got)
		}
		if got != "" && !strings.HasPrefix(string(b), "#!") {
			t.Fatalf("interpreter %q from a file without #!", got)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add("42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100")
	f.Add("1 ((x)) Z")
	f.Fuzz(func(t *testing.T, line string) {
		parseStat(line) // must not panic
	})
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "abc-1.2_3": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "-a": false, ".": false, "..": false,
		"a/b": false, "../x": false, "a b": false, "é": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
