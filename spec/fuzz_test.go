package spec

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds arbitrary bytes to the decoder and validator. Whatever the
// input: no panic; an error is Errors naming the file; a success is a valid
// document whose hash is stable and which survives a YAML round trip (what
// it means does not depend on how it was spelled). Seed corpus:
// testdata/fuzz/FuzzParse. Run: go test ./spec -run '^$' -fuzz FuzzParse -fuzztime 3m
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("apiVersion: zdml/v1\nkind: ModelDeployment\nmetadata: {name: x}\nspec: {model: {name: a, version: b, path: c.gguf}}\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("f.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not Errors: %T %v", err, err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
			if doc != nil {
				t.Fatal("document returned with an error")
			}
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("Parse accepted a document that Validate rejects: %v", err)
		}
		h := doc.Spec.Hash()
		if h != doc.Spec.Hash() {
			t.Fatal("Hash is not stable")
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("a valid document does not round-trip: %v\n%s", err, out)
		}
		if again.Spec.Hash() != h {
			t.Fatalf("round trip changed the hash:\n%s", out)
		}
	})
}
