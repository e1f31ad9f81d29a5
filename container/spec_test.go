package container

import (
	"bytes"
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/runtime"
)

// linuxSpec encodes a spec exactly as the spec itself does, and decodes
// one, leaving out only what other platforms would have.
func TestLinuxSpec(t *testing.T) {
	s := runtime.DefaultSpec()
	s.Hostname, s.Annotations = "h", map[string]string{"a": "b"}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(linuxSpec{Spec: s})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("linuxSpec encodes as\n%s\n%v; want\n%s", got, err, want)
	}
	withWindows := append(bytes.TrimSuffix(bytes.Clone(want), []byte("}")), `,"windows":{"layerFolders":["x"]}}`...)
	var back specs.Spec
	if err := json.Unmarshal(withWindows, &linuxSpec{Spec: &back}); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&back)
	if back.Windows != nil || !bytes.Equal(again, want) {
		t.Errorf("decoded and encoded again:\n%s\nwant\n%s", again, want)
	}
}
