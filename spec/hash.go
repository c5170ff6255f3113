package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Hash is a stable identity of the desired state: the sha256 (hex) of the
// canonical JSON of the spec after defaults and normalisation (sha256 in
// lower case, the model path cleaned and without its models/ prefix). Two
// files that deploy the same thing hash the same, whatever their comments,
// key order, or spelling of defaults. The reconciler quarantines a failed
// spec by this hash: it is not retried until the hash changes.
func (s Spec) Hash() string {
	d := Document{Spec: s}
	d.SetDefaults()
	n := d.Spec
	n.Model.SHA256 = strings.ToLower(n.Model.SHA256)
	n.Model.Path = strings.TrimPrefix(path.Clean(strings.ReplaceAll(n.Model.Path, "\\", "/")), ModelsPrefix)
	n.Warmup.Prompts = append([]string(nil), n.Warmup.Prompts...)
	if n.Runtime == RuntimeProcess {
		n.Image = "" // ignored by runtime process, so it does not change the deployment
	}
	b, err := json.Marshal(n)
	if err != nil {
		// Only unsupported values (NaN cpus) fail, and validation rejects them;
		// hash the text form so that Hash never panics.
		b = []byte(fmt.Sprintf("%#v", n))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
