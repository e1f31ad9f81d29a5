package runtime

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupTerminal opens the process's terminal (openTerminal), sends the
// master to the parent, and makes the slave the controlling terminal of a
// new session and fds 0-2.
func setupTerminal(p *specs.Process, console bool) error {
	master, slave, err := openTerminal(p, console)
	if err != nil {
		return err
	}
	defer unix.Close(master)
	defer unix.Close(slave)
	if err := send(syncMsg{Type: "console"}, master); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("make the terminal the controlling one: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("make the terminal fd %d: %w", fd, err)
		}
	}
	return nil
}

// openTerminal opens a pty in the container's own devpts instance (the
// calling thread's root is the container's), owned by the process's user
// and sized as the spec says, and binds its slave on /dev/console for a
// container's init. It returns the master and the slave.
func openTerminal(p *specs.Process, console bool) (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open a terminal: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(master)
		}
	}()
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return -1, -1, fmt.Errorf("unlock the terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return -1, -1, fmt.Errorf("open a terminal: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(int(n))
	slave, err = unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer func() {
		if err != nil {
			unix.Close(slave)
		}
	}()
	if err := unix.Fchown(slave, int(p.User.UID), -1); err != nil {
		return -1, -1, fmt.Errorf("chown %s: %w", slavePath, err)
	}
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, ws); err != nil {
			return -1, -1, fmt.Errorf("set the terminal size: %w", err)
		}
	}
	if console {
		if err := createTarget("/dev/console", false); err != nil {
			return -1, -1, fmt.Errorf("create /dev/console: %w", err)
		}
		if err := mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
			return -1, -1, err
		}
	}
	return master, slave, nil
}
