package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// LogEntry is one line of a container's log, in Docker's json-file form.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// LogOptions shape Logs.
type LogOptions struct {
	Follow     bool
	Tail       int // < 0: all
	Timestamps bool
	Since      time.Time // the entries logged at or after it; zero: all
}

// Logs writes container rec's log to stdout and stderr by stream; with
// Follow it keeps reading until the container has exited and the log is
// drained, or ctx ends.
func (c *Containers) Logs(ctx context.Context, rec *Record, stdout, stderr io.Writer, opts LogOptions) error {
	f, err := os.Open(rec.LogPath)
	if err != nil {
		if os.IsNotExist(err) {
			return nil // the container has written nothing yet
		}
		return err
	}
	defer f.Close()
	emit := func(e LogEntry) {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if opts.Timestamps {
			fmt.Fprintf(w, "%s %s", e.Time.Format(time.RFC3339Nano), e.Log)
		} else {
			io.WriteString(w, e.Log)
		}
	}
	br := bufio.NewReader(f)
	var pending []byte
	readAvailable := func(tail int) {
		var entries []LogEntry
		for {
			b, err := br.ReadBytes('\n')
			pending = append(pending, b...)
			if err != nil {
				break
			}
			var e LogEntry
			if json.Unmarshal(bytes.TrimRight(pending, "\n"), &e) == nil && !e.Time.Before(opts.Since) {
				entries = append(entries, e)
			}
			pending = nil
		}
		if tail >= 0 && len(entries) > tail {
			entries = entries[len(entries)-tail:]
		}
		for _, e := range entries {
			emit(e)
		}
	}
	readAvailable(opts.Tail)
	if !opts.Follow {
		return nil
	}
	for {
		done := c.Refresh(ctx, reload(c, rec)).State.Status == StatusExited
		readAvailable(-1)
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func reload(c *Containers, rec *Record) *Record {
	if r, err := c.Load(rec.ID); err == nil {
		return r
	}
	return &Record{ID: rec.ID, State: State{Status: StatusExited}}
}
