package container

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/tabula-dev/tabula/runtime"
)

// foregroundLogs copy a foreground container's output both to tabula's
// stdout and stderr and to the container's log, so that tabula logs shows
// it afterwards. A nil *foregroundLogs does nothing.
type foregroundLogs struct {
	log     *os.File
	ends    []*os.File // the pipes' write ends, the container's until it starts
	writers []*teeWriter
	copied  sync.WaitGroup
}

// openForegroundLogs opens rec's log and, unless the container has a
// terminal (see terminal), gives it pipes for its stdout and stderr in
// opts.
func openForegroundLogs(rec *Record, opts *runtime.CreateOptions, stdio Stdio) (*foregroundLogs, error) {
	f, err := os.OpenFile(rec.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	l := &foregroundLogs{log: f}
	if rec.Config.Tty {
		return l, nil
	}
	for _, s := range []struct {
		name string
		out  *os.File
		end  **os.File
	}{{"stdout", stdio.Out, &opts.Stdout}, {"stderr", stdio.Err, &opts.Stderr}} {
		r, w, err := os.Pipe()
		if err != nil {
			l.close()
			return nil, err
		}
		var out io.Writer
		if s.out != nil {
			out = s.out
		}
		tw := l.tee(s.name, out)
		l.copied.Add(1)
		go func() {
			defer l.copied.Done()
			defer r.Close()
			io.Copy(tw, r)
		}()
		l.ends = append(l.ends, w)
		*s.end = w
	}
	return l, nil
}

// terminal returns the writer for a terminal's output: to out and to the
// log as stdout.
func (l *foregroundLogs) terminal(out io.Writer) io.Writer { return l.tee("stdout", out) }

func (l *foregroundLogs) tee(name string, out io.Writer) *teeWriter {
	tw := &teeWriter{out: out, log: int(l.log.Fd()), s: logStream{name: name}}
	l.writers = append(l.writers, tw)
	return tw
}

// started closes tabula's copies of the pipes' write ends, now that the
// container holds its own: the copies end when the container's do.
func (l *foregroundLogs) started() {
	if l == nil {
		return
	}
	for _, w := range l.ends {
		w.Close()
	}
	l.ends = nil
}

// drain lets the copies finish once the container has exited, for at most
// a second (a process outside the container may hold a pipe), and logs the
// lines not yet ended.
func (l *foregroundLogs) drain() {
	if l == nil {
		return
	}
	l.started()
	done := make(chan struct{})
	go func() { l.copied.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	for _, tw := range l.writers {
		tw.flush()
	}
}

// close closes the log; a copy still running (past drain's second) logs
// no more.
func (l *foregroundLogs) close() {
	if l == nil {
		return
	}
	l.started()
	for _, tw := range l.writers {
		tw.mu.Lock()
		tw.log = -1
		tw.mu.Unlock()
	}
	l.log.Close()
}

// teeWriter writes to out and logs what it writes as one stream. A failed
// write to out (a closed terminal) stops the copies to out, not the log.
type teeWriter struct {
	mu   sync.Mutex
	out  io.Writer
	log  int
	s    logStream
	line []byte
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out != nil {
		if _, err := w.out.Write(p); err != nil {
			w.out = nil
		}
	}
	if w.log >= 0 {
		w.line = w.s.add(w.log, w.line, p)
	}
	return len(p), nil
}

func (w *teeWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log >= 0 {
		w.line = w.s.flush(w.log, w.line)
	}
}
