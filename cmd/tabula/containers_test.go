package main

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2026-11-30T11:00:00Z", time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)},
		{"2026-11-30T11:00:00.5+01:00", time.Date(2026, 11, 30, 10, 0, 0, 5e8, time.UTC)},
		{"2026-11-30T11:00:00", time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)},
		{"2026-11-30", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{"1764500000", time.Unix(1764500000, 0)},
		{"1764500000.25", time.Unix(1764500000, 25e7)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "12:00", "1764500000.x"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) took it", bad)
		}
	}
}
