package seccomp_test

import (
	"testing"

	"github.com/tabula-dev/tabula/internal/seccomp"
	"github.com/tabula-dev/tabula/runtime"
)

// BenchmarkCompileDefault compiles Docker's default profile to the bytes
// the runtime hands to the kernel.
func BenchmarkCompileDefault(b *testing.B) {
	p := runtime.DefaultSeccomp(runtime.DefaultCapabilities())
	var n int
	for b.Loop() {
		prog, err := seccomp.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		n = len(seccomp.Encode(prog)) / 8
	}
	b.ReportMetric(float64(n), "instructions")
}

// BenchmarkCompileDefaultGoSeccompBPF is the same with the runtime's
// former conversion through github.com/elastic/go-seccomp-bpf.
func BenchmarkCompileDefaultGoSeccompBPF(b *testing.B) {
	p := runtime.DefaultSeccomp(runtime.DefaultCapabilities())
	var n int
	for b.Loop() {
		raw, err := oracleBytes(p)
		if err != nil {
			b.Fatal(err)
		}
		n = len(raw) / 8
	}
	b.ReportMetric(float64(n), "instructions")
}
