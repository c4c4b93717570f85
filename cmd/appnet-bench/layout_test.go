package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxFuncLines bounds a function of the bench, from its func line to its
// closing brace.
const maxFuncLines = 60

// No function of the bench is longer than maxFuncLines. With -v the test
// also lists the longer functions of the whole module, which it does not
// enforce (some tests are longer):
//
//	go test ./cmd/appnet-bench -run FunctionLength -v
func TestFunctionLength(t *testing.T) {
	for _, f := range longFuncs(t, ".") {
		t.Errorf("%s: %d lines, want at most %d: split it", f.where, f.lines, maxFuncLines)
	}
	if testing.Verbose() {
		long := longFuncs(t, filepath.Join("..", ".."))
		t.Logf("%d functions of the module are over %d lines:", len(long), maxFuncLines)
		for _, f := range long {
			t.Logf("%4d %s", f.lines, f.where)
		}
	}
}

type longFunc struct {
	where string // file:line name
	lines int
}

// longFuncs returns the functions over maxFuncLines of the Go files under
// root (not in hidden directories or testdata), longest first.
func longFuncs(t *testing.T, root string) []longFunc {
	t.Helper()
	var out []longFunc
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			if n := end.Line - start.Line + 1; n > maxFuncLines {
				out = append(out, longFunc{fmt.Sprintf("%s:%d %s", path, start.Line, fn.Name.Name), n})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b longFunc) int { return b.lines - a.lines })
	return out
}

// The bench links no test helper: neither package testing (which the
// process would carry, with its flags) nor internal/testnet (which changes
// the environment in init).
func TestNoTestHelpersLinked(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || strings.HasSuffix(pkg, "/internal/testnet") {
			t.Errorf("the bench links %s", pkg)
		}
	}
}
