package analyze

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
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

// FuzzGoBuildInfo feeds the Go build-info and function-table readers
// small ELF files made of a real Go binary's .go.buildinfo and (cut)
// .gopclntab sections, mutated.
func FuzzGoBuildInfo(f *testing.F) {
	ef, err := elf.Open(goProg(f, "tz", nil, "-ldflags=-s -w", "-tags", "timetzdata"))
	if err != nil {
		f.Fatal(err)
	}
	bi, err := ef.Section(".go.buildinfo").Data()
	if err != nil {
		f.Fatal(err)
	}
	pcln, err := ef.Section(".gopclntab").Data()
	if err != nil {
		f.Fatal(err)
	}
	ef.Close()
	mini := miniELF(bi, pcln[:4096])
	if b, err := ReadBinary(bytes.NewReader(mini), int64(len(mini)), "mini"); err != nil || b.Go == nil || b.Go.Version == "" || !b.Go.HasTag("timetzdata") {
		f.Fatalf("the seed ELF does not read as a Go binary: %+v, %v", b, err)
	}
	f.Add(mini)
	f.Add(miniELF(bi[:64], pcln[:64]))
	f.Fuzz(func(t *testing.T, data []byte) {
		timer := time.AfterFunc(10*time.Second, func() { panic("slow input") })
		defer timer.Stop()
		b, err := ReadBinary(bytes.NewReader(data), int64(len(data)), "fuzz")
		checkInvariants(t, b, err)
	})
}

// miniELF writes a little-endian x86-64 ELF executable with one PT_LOAD
// covering the whole file and the sections .text, .go.buildinfo,
// .gopclntab and .shstrtab.
func miniELF(buildinfo, pclntab []byte) []byte {
	const base = 0x400000
	le := binary.LittleEndian
	var body bytes.Buffer
	body.Write(make([]byte, 64+56)) // ELF header and the program header
	type sec struct {
		name       string
		typ, flags uint64
		off, size  uint64
	}
	add := func(name string, typ, flags uint64, data []byte, align int) sec {
		for body.Len()%align != 0 {
			body.WriteByte(0)
		}
		s := sec{name, typ, flags, uint64(body.Len()), uint64(len(data))}
		body.Write(data)
		return s
	}
	secs := []sec{
		{},
		add(".text", uint64(elf.SHT_PROGBITS), uint64(elf.SHF_ALLOC|elf.SHF_EXECINSTR), []byte{0xc3}, 16),
		add(".go.buildinfo", uint64(elf.SHT_PROGBITS), uint64(elf.SHF_ALLOC|elf.SHF_WRITE), buildinfo, 16),
		add(".gopclntab", uint64(elf.SHT_PROGBITS), uint64(elf.SHF_ALLOC), pclntab, 32),
	}
	var names bytes.Buffer
	names.WriteByte(0)
	nameOff := map[string]int{}
	for _, s := range append(secs[1:], sec{name: ".shstrtab"}) {
		nameOff[s.name] = names.Len()
		names.WriteString(s.name)
		names.WriteByte(0)
	}
	secs = append(secs, add(".shstrtab", uint64(elf.SHT_STRTAB), 0, names.Bytes(), 1))
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := body.Len()
	for i, s := range secs {
		var h [64]byte
		if i > 0 {
			le.PutUint32(h[0:], uint32(nameOff[s.name]))
			le.PutUint32(h[4:], uint32(s.typ))
			le.PutUint64(h[8:], s.flags)
			if s.flags&uint64(elf.SHF_ALLOC) != 0 {
				le.PutUint64(h[16:], base+s.off)
			}
			le.PutUint64(h[24:], s.off)
			le.PutUint64(h[32:], s.size)
			le.PutUint64(h[48:], 1)
		}
		body.Write(h[:])
	}
	out := body.Bytes()
	copy(out, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(out[16:], uint16(elf.ET_EXEC))
	le.PutUint16(out[18:], uint16(elf.EM_X86_64))
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[24:], base+secs[1].off)
	le.PutUint64(out[32:], 64)
	le.PutUint64(out[40:], uint64(shoff))
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[54:], 56)
	le.PutUint16(out[56:], 1)
	le.PutUint16(out[58:], 64)
	le.PutUint16(out[60:], uint16(len(secs)))
	le.PutUint16(out[62:], uint16(len(secs)-1))
	ph := out[64:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(out)))
	le.PutUint64(ph[40:], uint64(len(out)))
	le.PutUint64(ph[48:], 0x1000)
	return out
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
