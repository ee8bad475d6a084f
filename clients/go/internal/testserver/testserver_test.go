package testserver

import (
	"context"
	"testing"
	"time"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Two test servers at once (as parallel test packages start them) each get their own
// ports: neither may take a fixed one, such as the dashboard's default 8080.
func TestTwoServersRunSideBySide(t *testing.T) {
	for _, server := range []*Server{Start(t), Start(t)} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := execstream.Snapshot(ctx, server.Client(), &execstreamv1.GetSnapshotRequest{})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", server.Address(), err, server.Log())
		}
	}
}
