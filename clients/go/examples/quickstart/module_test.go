package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheDocumentedStepsUseTheModuleFromACheckout follows docs/clients-go.md's steps for
// a module of one's own (the client is not published: require it, replace it with the
// checkout, tidy) in a fresh module, offline, then builds and runs a program using it.
func TestTheDocumentedStepsUseTheModuleFromACheckout(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/clients-go.md")
	if err != nil {
		t.Fatal(err)
	}
	checkout, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	var steps [][]string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "go mod ") {
			line = strings.ReplaceAll(line, "/path/to/execstream", checkout)
			steps = append(steps, strings.Fields(line))
		}
	}
	if len(steps) == 0 || !strings.Contains(string(doc), "replace github.com/execstream/execstream/clients/go => ") {
		t.Fatal("docs/clients-go.md gives no go mod steps, or not the replace line they make")
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		command := exec.Command(args[0], args[1:]...)
		command.Dir = dir
		// Offline: everything comes from the module cache that scripts/dev-setup filled.
		command.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off")
		out, err := command.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("go", "mod", "init", "example.com/uses-execstream")
	program := "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/execstream/execstream/clients/go/execstream\"\n)\n\n" +
		"func main() { fmt.Println(execstream.DefaultTarget) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, step := range steps {
		run(step...)
	}
	if got := strings.TrimSpace(run("go", "run", ".")); got != "127.0.0.1:50051" {
		t.Fatalf("the program printed %q", got)
	}
	mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(mod), "replace github.com/execstream/execstream/clients/go => "+checkout+"/clients/go") {
		t.Fatalf("go.mod has no replace line:\n%s", mod)
	}
}
