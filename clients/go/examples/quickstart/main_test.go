package main

import (
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
