// Command render renders podid's Helm chart with Helm's Go packages (as
// `helm template` does) and prints the manifests on standard output. The
// real-node end-to-end tests (test/e2e, TestRealNode…) run it to install the
// chart: Helm lives in this module, so the main module need not depend on it.
//
//	go run ./render -namespace podid -set image.tag=0.1.0 -set agent.port=80
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/strvals"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	chartDir := flag.String("chart", "../../deploy/helm/podid", "the chart's directory")
	name := flag.String("name", "podid", "the release name")
	ns := flag.String("namespace", "podid", "the release namespace")
	var sets, setStrings setFlags
	flag.Var(&sets, "set", "a value, as helm's --set (repeatable)")
	flag.Var(&setStrings, "set-string", "a string value, as helm's --set-string (repeatable)")
	flag.Parse()
	if err := run(*chartDir, *name, *ns, sets, setStrings); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, name, ns string, sets, setStrings []string) error {
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, s := range setStrings {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return fmt.Errorf("--set-string %s: %w", s, err)
		}
	}
	ch, err := loader.Load(chartDir)
	if err != nil {
		return err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return err
	}
	opts := chartutil.ReleaseOptions{Name: name, Namespace: ns, IsInstall: true, Revision: 1}
	values, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return err
	}
	files, err := engine.Render(ch, values)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") && strings.TrimSpace(files[n]) != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("---\n# Source: %s\n%s\n", n, strings.TrimSpace(files[n]))
	}
	return nil
}
