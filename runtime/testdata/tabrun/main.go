// Command tabrun runs one OCI bundle with tabula's runtime (create, start,
// wait, delete): the in-process cost of a container, for comparisons with
// `runc run`.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/tabula-dev/tabula/runtime"
)

func main() {
	if runtime.Reexec() {
		return
	}
	ctx := context.Background()
	r := &runtime.Runtime{StateDir: "/run/tabrun"}
	id := "tabrun-" + strconv.Itoa(os.Getpid())
	c, err := r.Create(ctx, id, os.Args[1], runtime.CreateOptions{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	if err := r.Start(ctx, id); err != nil {
		fmt.Fprintln(os.Stderr, err)
		r.Delete(ctx, id, true)
		os.Exit(126)
	}
	st, _ := c.Wait()
	r.Delete(ctx, id, true)
	os.Exit(st.Code)
}
