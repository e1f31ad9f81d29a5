package runtime

// ProgramError says why a container's program cannot start: not found in
// the image (exit code 127, as a shell and Docker report it) or found but
// not executable (126).
type ProgramError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Code    int    `json:"code"`
}

func (e *ProgramError) Error() string { return e.Message }

// ExitCode is the code `tabula run` exits with: 126 or 127.
func (e *ProgramError) ExitCode() int { return e.Code }
