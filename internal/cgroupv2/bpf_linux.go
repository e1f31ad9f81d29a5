package cgroupv2

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// progName names the device programs tabula loads, as bpftool shows them.
const progName = "tabula_devices"

// progLoadAttr is the start of union bpf_attr for BPF_PROG_LOAD, up to
// prog_name; the kernel takes the fields past the size given as zero.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64 // pointer
	license     uint64 // pointer
	logLevel    uint32
	logSize     uint32
	logBuf      uint64 // pointer
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// progAttachAttr is union bpf_attr for BPF_PROG_ATTACH.
type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

// bpf makes the bpf(2) call cmd with attr.
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// loadDeviceProgram loads the device program p into the kernel and
// returns its file descriptor. A program the verifier refuses is an error
// with the verifier's log.
func loadDeviceProgram(p []insn) (int, error) {
	code := encode(p)
	license := []byte("Apache\x00")
	// attr holds the buffers' addresses as integers, out of the garbage
	// collector's sight: pinning keeps them alive and in place (and on
	// the heap, where no stack copy moves them) until the call is done.
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&code[0])
	pin.Pin(&license[0])
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(p)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], progName)
	fd, err := progLoad(&attr)
	if err == nil {
		return fd, nil
	}
	// Load it again with the verifier's log, to say why.
	log := make([]byte, 64<<10)
	pin.Pin(&log[0])
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
	fd, err2 := progLoad(&attr)
	if err2 == nil {
		return fd, nil
	}
	msg := ""
	if n := bytes.IndexByte(log, 0); n > 0 {
		msg = ": verifier: " + string(bytes.TrimSpace(log[:n]))
	}
	if errors.Is(err, unix.EPERM) {
		msg += " (loading BPF programs needs CAP_BPF or CAP_SYS_ADMIN, and before Linux 5.11 room in RLIMIT_MEMLOCK)"
	}
	return -1, fmt.Errorf("load the device program (%d instructions): bpf(BPF_PROG_LOAD): %w%s", len(p), err, msg)
}

// progLoad makes the BPF_PROG_LOAD call, again while the verifier is
// interrupted by a signal (EAGAIN).
func progLoad(attr *progLoadAttr) (int, error) {
	for tries := 0; ; tries++ {
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		if err != unix.EAGAIN || tries == 20 {
			return fd, err
		}
	}
}

// attachDeviceProgram attaches the loaded program prog to the cgroup whose
// directory is open as dir, with BPF_F_ALLOW_MULTI: the programs of the
// cgroup's ancestors still run, and a device is allowed only when every
// one allows it, so that the host's own device programs keep working.
// The cgroup holds the program from then on, until it is removed, so prog
// may be closed.
func attachDeviceProgram(dir, prog int) error {
	attr := progAttachAttr{
		targetFd:    uint32(dir),
		attachBpfFd: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}
