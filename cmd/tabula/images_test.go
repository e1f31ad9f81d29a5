package main

import (
	"archive/tar"
	"testing"
	"time"
)

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {5, "5B"}, {999, "999B"}, {1000, "1kB"}, {153000, "153kB"},
		{1612345, "1.61MB"}, {5320000, "5.32MB"}, {69200000, "69.2MB"}, {118000000, "118MB"}, {2e9, "2GB"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestCreatedSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 19, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "Less than a second ago"},
		{time.Second, "1 second ago"},
		{12 * time.Second, "12 seconds ago"},
		{70 * time.Second, "About a minute ago"},
		{5 * time.Minute, "5 minutes ago"},
		{65 * time.Minute, "About an hour ago"},
		{2 * time.Hour, "2 hours ago"},
		{13 * 24 * time.Hour, "13 days ago"},
		{3 * 7 * 24 * time.Hour, "3 weeks ago"},
		{8 * 30 * 24 * time.Hour, "8 months ago"},
	} {
		if got := createdSince(now.Add(-tc.ago), now); got != tc.want {
			t.Errorf("createdSince(-%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	// Reproducible images are created at the epoch; Docker shows their age.
	if got := createdSince(time.Unix(0, 0), now); got != "56 years ago" {
		t.Errorf("epoch: %q", got)
	}
	if got := createdSince(time.Time{}, now); got != "N/A" {
		t.Errorf("no created time: %q", got)
	}
}

func TestTarMode(t *testing.T) {
	for _, tc := range []struct {
		h    tar.Header
		want string
	}{
		{tar.Header{Typeflag: tar.TypeReg, Mode: 0o644}, "-rw-r--r--"},
		{tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}, "drwxr-xr-x"},
		{tar.Header{Typeflag: tar.TypeSymlink, Mode: 0o777}, "lrwxrwxrwx"},
		{tar.Header{Typeflag: tar.TypeReg, Mode: 0o4755}, "-rwsr-xr-x"},
		{tar.Header{Typeflag: tar.TypeDir, Mode: 0o1777}, "drwxrwxrwt"},
		{tar.Header{Typeflag: tar.TypeReg, Mode: 0o2644}, "-rw-r-Sr--"},
	} {
		if got := tarMode(&tc.h); got != tc.want {
			t.Errorf("tarMode(%o) = %q, want %q", tc.h.Mode, got, tc.want)
		}
	}
}

func TestImageFilter(t *testing.T) {
	for _, tc := range []struct {
		filters []string
		name    string
		want    bool
	}{
		{nil, "", true},
		{nil, "a:1", true},
		{[]string{"dangling=true"}, "", true},
		{[]string{"dangling=true"}, "a:1", false},
		{[]string{"dangling=false"}, "", false},
		{[]string{"dangling=false"}, "a:1", true},
		{[]string{"reference=a"}, "a:1", true},
		{[]string{"reference=a:2"}, "a:1", false},
		{[]string{"reference=org/*"}, "org/app:v1", true},
		{[]string{"reference=org/*"}, "other/app:v1", false},
		{[]string{"reference=*:v1"}, "org/app:v1", false}, // * does not cross "/"
		{[]string{"reference=*/*:v1"}, "org/app:v1", true},
		{[]string{"reference=a"}, "", false},
	} {
		f, err := parseImageFilters(tc.filters)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.keep(tc.name); got != tc.want {
			t.Errorf("filters %q keep(%q) = %v, want %v", tc.filters, tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"dangling=maybe", "label=x", "reference=[", "nonsense"} {
		if _, err := parseImageFilters([]string{bad}); err == nil {
			t.Errorf("--filter %q accepted", bad)
		}
	}
}
