package container

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAppendLogLine: the monitor's hand-made JSON lines read back as the
// LogEntry they stand for, whatever bytes the container wrote.
func TestAppendLogLine(t *testing.T) {
	for _, msg := range []string{"hello\n", "", "quote \" backslash \\ tab \t cr \r\n", "\x00\x01\x1f\x7f", "ünïcödé ☃\n", "</script>&"} {
		b := appendLogLine(nil, "stderr", []byte(msg))
		if b[len(b)-1] != '\n' {
			t.Errorf("%q: no newline at the end", msg)
		}
		var e LogEntry
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%q: %s: %v", msg, b, err)
		}
		if e.Log != msg || e.Stream != "stderr" || time.Since(e.Time) > time.Minute {
			t.Errorf("%q read back as %+v", msg, e)
		}
	}
}

func FuzzAppendLogLine(f *testing.F) {
	f.Add([]byte("line\n"))
	f.Add([]byte{0xff, 0xfe, '"'})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var e LogEntry
		if err := json.Unmarshal(appendLogLine(nil, "stdout", msg), &e); err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
	})
}
