package analyze

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"
	"time"
)

func seed(f *testing.F, p string) []byte {
	f.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func checkInvariants(t *testing.T, b *Binary, err error) {
	if err != nil {
		if b != nil {
			t.Fatalf("both a binary and an error: %v", err)
		}
		return
	}
	switch b.Linking {
	case Static, StaticPIE, Dynamic:
	default:
		t.Fatalf("linking %q", b.Linking)
	}
	if b.Linking != Dynamic && b.Interp != "" {
		t.Fatalf("%s binary with interpreter %q", b.Linking, b.Interp)
	}
}

// FuzzReadBinary feeds the ELF reader mutated C programs and headers.
func FuzzReadBinary(f *testing.F) {
	dyn := seed(f, cProg(f))
	f.Add(dyn)
	f.Add(dyn[:64])
	f.Add(dyn[:len(dyn)/2])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		timer := time.AfterFunc(10*time.Second, func() { panic("slow input") })
		defer timer.Stop()
		b, err := ReadBinary(bytes.NewReader(data), int64(len(data)), "fuzz")
		checkInvariants(t, b, err)
		if err == nil && b.Linking == Dynamic {
			// The loader over an empty tree must cope with whatever the
			// binary claims.
			NewLoader(NewTree(), nil).Resolve("/x", b)
		}
	})
}

// FuzzGoBuildInfo feeds the Go build-info and function-table readers a
// mutated stripped Go binary.
func FuzzGoBuildInfo(f *testing.F) {
	f.Add(seed(f, goProg(f, "tz", nil, "-ldflags=-s -w", "-tags", "timetzdata")))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBinary(bytes.NewReader(data), int64(len(data)), "fuzz")
		checkInvariants(t, b, err)
	})
}

// FuzzGoFuncTable feeds the function-table reader mutated .gopclntab data.
func FuzzGoFuncTable(f *testing.F) {
	ef, err := elf.Open(goProg(f, "hello", nil, "-ldflags=-s -w"))
	if err != nil {
		f.Fatal(err)
	}
	data, err := ef.Section(".gopclntab").Data()
	if err != nil {
		f.Fatal(err)
	}
	text := ef.Section(".text").Addr
	ef.Close()
	f.Add(data, text)
	f.Add(data[:4096], text)
	f.Fuzz(func(t *testing.T, data []byte, text uint64) {
		funcNames(data, text)
	})
}
