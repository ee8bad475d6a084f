package main

import (
	"os"
	"strings"
	"testing"

	"github.com/execstream/execstream/clients/go/internal/testserver"
)

func TestQuickstartReportsAndWatchesItsTask(t *testing.T) {
	server := testserver.Start(t)
	t.Setenv("EXECSTREAM_TARGET", server.Address())
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

// TestEverySnippetOfTheDocsIsCompiled keeps each go snippet of docs/clients-go.md a
// verbatim part of compiled code: the body of run() here, or an example of package
// execstream.
func TestEverySnippetOfTheDocsIsCompiled(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/clients-go.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, path := range []string{"main.go", "../../execstream/example_test.go"} {
		source, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(source))
	}
	blocks := strings.Split(string(doc), "```go\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no go snippet in docs/clients-go.md")
	}
	for _, block := range blocks {
		snippet := block[:strings.Index(block, "\n```")]
		var indented []string
		for _, line := range strings.Split(snippet, "\n") {
			if line != "" {
				line = "\t" + line
			}
			indented = append(indented, line)
		}
		found := false
		for _, source := range sources {
			found = found || strings.Contains(source, strings.Join(indented, "\n")+"\n")
		}
		if !found {
			t.Errorf("this snippet of docs/clients-go.md is in no compiled file:\n%s", snippet)
		}
	}
}
