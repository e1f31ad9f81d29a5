package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// LogEntry is one line of a container's log, in Docker's json-file form.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logFile appends LogEntry lines to a file; streams share it.
type logFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *logFile) write(stream string, line []byte) {
	b, _ := json.Marshal(LogEntry{Log: string(line), Stream: stream, Time: time.Now().UTC()})
	b = append(b, '\n')
	l.mu.Lock()
	l.f.Write(b)
	l.mu.Unlock()
}

// copyLines copies r into the log as stream, one entry per line (a last
// line without a newline is written as it is).
func (l *logFile) copyLines(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			l.write(stream, line)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// LogOptions shape Logs.
type LogOptions struct {
	Follow     bool
	Tail       int // < 0: all
	Timestamps bool
}

// Logs writes container rec's log to stdout and stderr by stream; with
// Follow it keeps reading until the container has exited and the log is
// drained, or ctx ends.
func (c *Containers) Logs(ctx context.Context, rec *Record, stdout, stderr io.Writer, opts LogOptions) error {
	f, err := os.Open(rec.LogPath)
	if err != nil {
		if os.IsNotExist(err) {
			if rec.Config.Tty || rec.State.Status != StatusCreated {
				return nil // a foreground container: its output went to the terminal
			}
			return nil
		}
		return err
	}
	defer f.Close()
	emit := func(line []byte) {
		var e LogEntry
		if json.Unmarshal(line, &e) != nil {
			return
		}
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
		var lines [][]byte
		for {
			b, err := br.ReadBytes('\n')
			pending = append(pending, b...)
			if err != nil {
				break
			}
			lines = append(lines, pending)
			pending = nil
		}
		if tail >= 0 && len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		for _, l := range lines {
			emit(bytes.TrimRight(l, "\n"))
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
