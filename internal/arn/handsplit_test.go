package arn

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// patternFuncs split colon-separated text on purpose: they validate and
// match the resource patterns of policy documents, which may hold
// wildcards and ${…} variables in any section and so are not ARNs
// (issue 14 leaves that matching to the policy engine). Key: the file
// relative to the repository root, then the enclosing function.
var patternFuncs = map[string]bool{
	"internal/policy/validate.go:resourceFormatError": true,
	"internal/policy/validate.go:legacyResourceOK":    true,
	"internal/policy/compile.go:compileResource":      true,
	"internal/policy/compile.go:splitARN":             true,
}

// TestNoARNsByHand fails when Go code outside this package splits text on
// ':' (strings.Split, SplitN, SplitAfter, SplitAfterN) or builds an ARN by
// concatenating or formatting onto an "arn:" literal. Parse, the typed
// builders and ARN.String are the one place ARNs are read and written, so
// that every service validates them the same way.
//
// Test files are not checked, nor is building in test-support packages
// (storetest, iamsdktest, …) or the repository's other modules (bench,
// test/helm): tests and load clients spell expected ARNs out so that a bug
// in this package cannot hide on both sides of a comparison.
func TestNoARNsByHand(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	var found []string
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == "internal/arn", d.Name() == "testdata", d.Name() == "vendor", d.Name() == "node_modules",
				rel != "." && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				return filepath.SkipDir // another module (bench, test/helm): clients, like tests
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		checked++
		testSupport := strings.HasSuffix(filepath.Base(filepath.Dir(path)), "test")
		v, err := handSplits(path, rel, testSupport)
		if err != nil {
			return err
		}
		found = append(found, v...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("only %d Go files checked under %s; the walk is broken", checked, root)
	}
	for _, f := range found {
		t.Errorf("%s: use internal/arn (Parse, the builders, ARN.String) instead", f)
	}
}

// handSplits returns the hand-made ARN splits and builds in one file.
func handSplits(path, rel string, testSupport bool) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	return inspectFile(fset, f, rel, testSupport), nil
}

// inspectFile reports, for one parsed file, every strings.Split* on ":"
// (outside patternFuncs) and, unless testSupport, every "arn:…" literal
// that is concatenated or formatted onto.
func inspectFile(fset *token.FileSet, f *ast.File, rel string, testSupport bool) []string {
	strs := importName(f, "strings")
	fmts := importName(f, "fmt")
	var out []string
	for _, decl := range f.Decls {
		fn := ""
		if fd, ok := decl.(*ast.FuncDecl); ok {
			fn = fd.Name.Name
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				pkg, name := selector(n.Fun)
				switch {
				case pkg != "" && pkg == strs && strings.HasPrefix(name, "Split") && len(n.Args) >= 2 && stringLit(n.Args[1]) == ":":
					if !patternFuncs[rel+":"+fn] {
						out = append(out, fset.Position(n.Pos()).String()+": strings."+name+" on \":\"")
					}
				case !testSupport && pkg != "" && pkg == fmts && strings.HasSuffix(name, "printf") && len(n.Args) > 0:
					format := n.Args[0]
					if name == "Fprintf" && len(n.Args) > 1 {
						format = n.Args[1]
					}
					if strings.Contains(stringLit(format), "arn:%") {
						out = append(out, fset.Position(n.Pos()).String()+": fmt."+name+" formats an ARN")
					}
				}
			case *ast.BinaryExpr:
				if testSupport || n.Op != token.ADD {
					return true
				}
				if strings.HasPrefix(stringLit(leftmost(n)), "arn:") {
					out = append(out, fset.Position(n.Pos()).String()+": \"arn:…\" + … builds an ARN")
					return false
				}
			}
			return true
		})
	}
	return out
}

// importName returns the name a file uses for the package at path, or ""
// when it does not import it.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndexByte(path, '/')+1:]
		}
	}
	return ""
}

// selector returns X and Sel of a call's X.Sel function.
func selector(e ast.Expr) (pkg, name string) {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	id, ok := s.X.(*ast.Ident)
	if !ok {
		return "", ""
	}
	return id.Name, s.Sel.Name
}

// leftmost returns the first operand of a chain of '+'.
func leftmost(e ast.Expr) ast.Expr {
	for {
		b, ok := e.(*ast.BinaryExpr)
		if !ok || b.Op != token.ADD {
			return e
		}
		e = b.X
	}
}

// stringLit returns the value of a string literal, or "".
func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// TestInspectFile checks the detector itself on snippets it must and must
// not report.
func TestInspectFile(t *testing.T) {
	tests := []struct {
		name, body string
		rel        string
		support    bool
		want       int
	}{
		{name: "SplitN", body: `func f(s string) string { return strings.SplitN(s, ":", 6)[4] }`, want: 1},
		{name: "Split", body: `func f(s string) string { return strings.Split(s, ":")[4] }`, want: 1},
		{name: "SplitAfterN", body: `func f(s string) []string { return strings.SplitAfterN(s, ":", 6) }`, want: 1},
		{name: "renamed import", body: `func f(s string) []string { return str.SplitN(s, ":", 6) }`, want: 1},
		{name: "other separator", body: `func f(s string) []string { return strings.Split(s, "/") }`},
		{name: "concatenation", body: `func f(p, a string) string { return "arn:" + p + ":iam::" + a + ":root" }`, want: 1},
		{name: "concatenation arn:aws", body: `var x = "arn:aws:iam::" + acct + ":role/r"`, want: 1},
		{name: "Sprintf", body: `func f(r, a string) string { return fmt.Sprintf("arn:%s:eks:%s:cluster/x", r, a) }`, want: 1},
		{name: "Fprintf", body: `func f(w io.Writer, r string) { fmt.Fprintf(w, "x arn:%s", r) }`, want: 1},
		{name: "plain literal", body: `const x = "arn:aws:iam::123456789012:root"`},
		{name: "literal after text", body: `func f(r string) string { return "role " + r + " arn:" }`},
		{name: "pattern function", rel: "internal/policy/compile.go", body: `func compileResource(r string) []string { return strings.SplitN(r, ":", 6) }`},
		{name: "pattern file, other function", rel: "internal/policy/compile.go", body: `func principal(r string) []string { return strings.SplitN(r, ":", 6) }`, want: 1},
		{name: "test support builds", support: true, body: `var x = "arn:aws:iam::" + acct + ":role/r"`},
		{name: "test support splits", support: true, body: `func f(s string) []string { return strings.SplitN(s, ":", 6) }`, want: 1},
	}
	for _, tt := range tests {
		imp := `import (
	"fmt"
	"io"
	"strings"
)`
		if tt.name == "renamed import" {
			imp = `import str "strings"`
		}
		src := "package p\n\n" + imp + "\n\nvar _, _, _ = fmt.Sprint, io.EOF, strings.Cut\n\n" + tt.body + "\n"
		if tt.name == "renamed import" {
			src = "package p\n\n" + imp + "\n\n" + tt.body + "\n"
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		rel := tt.rel
		if rel == "" {
			rel = "internal/x/x.go"
		}
		if got := inspectFile(fset, f, rel, tt.support); len(got) != tt.want {
			t.Errorf("%s: found %q, want %d findings", tt.name, got, tt.want)
		}
	}
}
