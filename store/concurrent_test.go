package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The store tests re-execute the test binary as a writer process with these
// variables set: the store directory, what to do, and a name prefix.
const (
	helperDir  = "TABULA_STORE_TEST_DIR"
	helperMode = "TABULA_STORE_TEST_MODE"
	helperName = "TABULA_STORE_TEST_NAME"
)

// TestMain runs the test binary as a writer process when the tests below
// start it so, and the tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDir); dir != "" {
		os.Exit(writerProcess(dir))
	}
	os.Exit(m.Run())
}

// writerProcess writes images until killed ("loop") or once ("once").
func writerProcess(dir string) int {
	ctx := context.Background()
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	prefix := os.Getenv(helperName)
	image := func(size, layers int64) v1.Image {
		img, err := random.Image(size, layers)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return img
	}
	switch os.Getenv(helperMode) {
	case "once":
		if _, err := s.Write(ctx, image(256, 3), prefix); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "loop":
		for i := 0; ; i++ {
			if _, err := s.Write(ctx, image(1<<20, 3), fmt.Sprintf("%s%d", prefix, i)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if i%3 == 2 {
				if _, err := s.Remove(ctx, fmt.Sprintf("%s%d", prefix, i-1), false); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
		}
	}
	return 0
}

func helper(t *testing.T, dir, mode, name string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperDir+"="+dir, helperMode+"="+mode, helperName+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestCrashLeavesReadableStore kills a writer process with SIGKILL at
// different moments and proves the store stays readable and consistent.
func TestCrashLeavesReadableStore(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	for i, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 90 * time.Millisecond, 150 * time.Millisecond, 220 * time.Millisecond, 300 * time.Millisecond} {
		cmd := helper(t, s.Dir(), "loop", fmt.Sprintf("crash%d-", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		list, err := s.List(ctx)
		if err != nil {
			t.Fatalf("after SIGKILL at %v: List: %v", delay, err)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("after SIGKILL at %v: %v", delay, err)
		}
		temps, _ := os.ReadDir(filepath.Join(s.Dir(), "ingest"))
		t.Logf("SIGKILL after %v: %d images, %d temporary files left", delay, len(list), len(temps))
		for _, e := range list {
			img, err := s.Image(ctx, e.Manifest.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("after SIGKILL at %v: image %v: %v", delay, e.Names, err)
			}
		}
	}
	// The store still takes writes, and GC leaves it consistent.
	if _, err := s.Write(ctx, randomImage(t, 2, time.Now()), "after"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWriters has four goroutines and four processes write one
// image each into one store at the same time.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		cmd := helper(t, s.Dir(), "once", "proc"+strconv.Itoa(i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				errs <- fmt.Errorf("writer process: %w", err)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		img := randomImage(t, 3, time.Now())
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each goroutine opens the store itself, as another command would.
			s2, err := Open(s.Dir())
			if err == nil {
				_, err = s2.Write(ctx, img, "goroutine"+strconv.Itoa(i))
			}
			if err != nil {
				errs <- err
			}
			// A concurrent GC must not take blobs from writers.
			if _, err := s2.GC(ctx); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 8 {
		t.Fatalf("%d images after 8 concurrent writes: %+v", len(list), list)
	}
	for i := 0; i < 4; i++ {
		for _, n := range []string{"proc", "goroutine"} {
			img, err := s.Image(ctx, n+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		img := randomImageSized(b, 1<<20, 2, time.Unix(int64(i), 0))
		b.StartTimer()
		if _, err := s.Write(ctx, img, "bench:"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteExisting(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	img := randomImageSized(b, 1<<20, 2, time.Unix(1, 0))
	if _, err := s.Write(ctx, img, "bench"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Write(ctx, img, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := s.Write(ctx, randomImage(b, 1, time.Unix(int64(i), 0)), "img:"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Resolve(ctx, "img:"+strconv.Itoa(i%50)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadersDuringRemove lists and checks the store while images are
// written and removed: readers never fail.
func TestReadersDuringRemove(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	if _, err := s.Write(ctx, randomImage(t, 1, time.Unix(1, 0)), "stays"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 2)
	go func() {
		defer close(done)
		for i := 0; i < 30; i++ {
			n := "churn" + strconv.Itoa(i)
			if _, err := s.Write(ctx, randomImage(t, 2, time.Unix(int64(i+2), 0)), n); err != nil {
				errs <- err
				return
			}
			if _, err := s.Remove(ctx, n, false); err != nil {
				errs <- err
				return
			}
		}
	}()
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatalf("List during removals: %v", err)
		}
		if len(list) == 0 {
			t.Fatal("List lost the image that stays")
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check during removals: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d reads during 30 writes and removals", reads)
}
