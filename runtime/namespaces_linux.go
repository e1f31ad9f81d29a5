package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var nsCloneFlag = map[specs.LinuxNamespaceType]int{
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// nsProcName is the name of each namespace under /proc/<pid>/ns, in the
// order Exec joins them: the mount namespace last, because it changes what
// paths mean.
var nsProcName = []struct {
	typ  specs.LinuxNamespaceType
	name string
}{
	{specs.CgroupNamespace, "cgroup"},
	{specs.IPCNamespace, "ipc"},
	{specs.UTSNamespace, "uts"},
	{specs.NetworkNamespace, "net"},
	{specs.PIDNamespace, "pid"},
	{specs.MountNamespace, "mnt"},
}

// nsJoin is a namespace to enter with setns.
type nsJoin struct {
	typ  specs.LinuxNamespaceType
	path string
}

// namespacePlan splits the spec's namespaces into clone flags for the new
// ones and paths to join. A new cgroup namespace is not a clone flag: the
// init unshares it once it sits in its cgroup, so that the cgroup is the
// namespace's root.
func namespacePlan(nss []specs.LinuxNamespace) (cloneflags uintptr, newCgroupNS bool, join []nsJoin, err error) {
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range nss {
		if seen[ns.Type] {
			return 0, false, nil, fmt.Errorf("linux.namespaces: %s namespace listed twice", ns.Type)
		}
		seen[ns.Type] = true
		flag, ok := nsCloneFlag[ns.Type]
		if !ok {
			return 0, false, nil, fmt.Errorf("linux.namespaces: %s namespaces are not supported by tabula's runtime", ns.Type)
		}
		switch {
		case ns.Path != "" && ns.Type == specs.MountNamespace:
			return 0, false, nil, fmt.Errorf("linux.namespaces: joining a mount namespace (%s) is not supported; the container needs its own", ns.Path)
		case ns.Path != "":
			join = append(join, nsJoin{typ: ns.Type, path: ns.Path})
		case ns.Type == specs.CgroupNamespace:
			newCgroupNS = true
		default:
			cloneflags |= uintptr(flag)
		}
	}
	if !seen[specs.MountNamespace] {
		return 0, false, nil, fmt.Errorf("linux.namespaces: a mount namespace is required")
	}
	return cloneflags, newCgroupNS, join, nil
}

// openNamespaces opens the namespace files to join before any is entered.
func openNamespaces(join []nsJoin) ([]*os.File, error) {
	files := make([]*os.File, 0, len(join))
	for _, j := range join {
		f, err := os.Open(j.path)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("join %s namespace: %w", j.typ, err)
		}
		files = append(files, f)
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// setnsAll enters the opened namespaces on the calling thread; a mount
// namespace needs the thread to stop sharing its filesystem attributes
// with the rest of the process first.
func setnsAll(join []nsJoin, files []*os.File) error {
	for i, j := range join {
		if j.typ == specs.MountNamespace {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare filesystem attributes: %w", err)
			}
		}
		if err := unix.Setns(int(files[i].Fd()), nsCloneFlag[j.typ]); err != nil {
			return fmt.Errorf("join %s namespace %s: %w", j.typ, j.path, err)
		}
	}
	return nil
}

// NewNetworkNamespace starts making a network namespace on a thread of its
// own: the kernel takes most of a millisecond for one, which a caller can
// overlap with its own work before Create (CreateOptions.NetworkNamespace).
// The thread then goes back to the host's network namespace and to the Go
// scheduler: had it ended, whoever waits for the namespace would wait for
// the scheduler to make up for the lost thread too.
func NewNetworkNamespace() *NetworkNamespace {
	n := &NetworkNamespace{done: make(chan struct{})}
	goThread(func() (clean bool) {
		defer close(n.done)
		host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			n.err = fmt.Errorf("create network namespace: %w", err)
			return true
		}
		defer unix.Close(host)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			n.err = fmt.Errorf("create network namespace: %w", err)
			return true
		}
		n.f, n.err = os.Open("/proc/thread-self/ns/net")
		return unix.Setns(host, unix.CLONE_NEWNET) == nil
	})
	return n
}

// file waits for the namespace and returns its nsfs file.
func (n *NetworkNamespace) file() (*os.File, error) {
	<-n.done
	return n.f, n.err
}

// Close lets the namespace go once made; it lives on in the containers
// that joined it.
func (n *NetworkNamespace) Close() error {
	if f, _ := n.file(); f != nil {
		return f.Close()
	}
	return nil
}

// onThrowawayThread runs f on a new OS thread that is never given back to
// Go's scheduler: f may change the thread's namespaces or cgroup, and the
// thread exits when f returns.
func onThrowawayThread(f func() error) error {
	errc := make(chan error, 1)
	goThrowaway(func() { errc <- f() })
	return <-errc
}

// goThrowaway starts f in a goroutine locked to its OS thread for good, so
// that the thread ends with it. That thread is never the process's main
// thread, which cannot end and whose namespaces are what /proc/self shows
// every thread.
func goThrowaway(f func()) {
	goThread(func() bool { f(); return false })
}

// goThread starts f in a goroutine locked to an OS thread that is not the
// main thread. When f reports the thread clean (as it found it), the thread
// goes back to the Go scheduler; otherwise it ends with the goroutine.
func goThread(f func() (clean bool)) {
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			if f() {
				goruntime.UnlockOSThread()
			}
			return // a thread still locked ends here
		}
		// Holding the main thread, start f again: it gets another one.
		done := make(chan struct{})
		goThread(func() bool {
			defer close(done)
			return f()
		})
		<-done
		goruntime.UnlockOSThread()
	}()
}
