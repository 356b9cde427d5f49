package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ManifestResult is the outcome of mutating one object of a manifest.
type ManifestResult struct {
	Kind, Name string
	// Patch is the JSON patch the webhook would apply to pods created from
	// the object (nil when nothing would change).
	Patch []PatchOp
	// Mutated is the object with its pod or pod template mutated.
	Mutated map[string]any
}

// templatePaths says where each kind keeps its pod template.
var templatePaths = map[string][]string{
	"Deployment":            {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"Job":                   {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"PodTemplate":           {"template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// MutateManifest applies Mutate to every pod and pod template in a
// (possibly multi-document) YAML or JSON manifest. hasAssociation says
// whether a (namespace, service account) has an association; objects
// whose service account has none are reported unchanged.
func MutateManifest(manifest []byte, s Settings, hasAssociation func(namespace, serviceAccount string) bool) ([]ManifestResult, error) {
	var out []ManifestResult
	for i, doc := range splitYAML(manifest) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(obj) == 0 {
			continue
		}
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			ns = "default"
		}
		res := ManifestResult{Kind: kind, Name: name, Mutated: obj}
		var podJSON []byte
		var setBack func(map[string]any)
		if kind == "Pod" {
			podJSON, _ = json.Marshal(obj)
			setBack = func(m map[string]any) {
				for k, v := range m {
					obj[k] = v
				}
			}
		} else if path, ok := templatePaths[kind]; ok {
			parent := obj
			for _, p := range path[:len(path)-1] {
				next, _ := parent[p].(map[string]any)
				if next == nil {
					return nil, fmt.Errorf("%s %s: no %s", kind, name, strings.Join(path, "."))
				}
				parent = next
			}
			last := path[len(path)-1]
			tmpl, _ := parent[last].(map[string]any)
			if tmpl == nil {
				return nil, fmt.Errorf("%s %s: no pod template", kind, name)
			}
			podJSON, _ = json.Marshal(tmpl)
			setBack = func(m map[string]any) {
				delete(m, "status")
				delete(m, "apiVersion")
				delete(m, "kind")
				if md, ok := m["metadata"].(map[string]any); ok {
					delete(md, "creationTimestamp")
				}
				parent[last] = m
			}
		} else {
			out = append(out, res)
			continue
		}
		var pod corev1.Pod
		if err := json.Unmarshal(podJSON, &pod); err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		if hasAssociation != nil && !hasAssociation(ns, sa) {
			out = append(out, res)
			continue
		}
		res.Patch = Mutate(&pod, s)
		if len(res.Patch) > 0 {
			mutated, err := ApplyPatch(&pod, res.Patch)
			if err != nil {
				return nil, err
			}
			b, _ := json.Marshal(mutated)
			var m map[string]any
			json.Unmarshal(b, &m)
			setBack(m)
		}
		out = append(out, res)
	}
	return out, nil
}

// splitYAML splits a multi-document YAML stream on "---" lines.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}
