package main

import "github.com/tabula-dev/tabula/runtime"

func init() { reexecEntries = append(reexecEntries, runtime.Reexec) }
