package execstream_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// testContext bounds a test that talks to a real server, so a hang fails instead of
// stalling the suite.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// priceTable writes a one-model price table (USD per million tokens) for --pricing.
func priceTable(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prices.toml")
	table := `version = "go-test"
source = "the Go client's tests"
reference_model = "go-test-model"

[models."go-test-model"]
backend = "anthropic"
input = 1.00
output = 2.00
cache_read = 0.10
cache_write = 1.25
cache_write_1h = 3.00
effective_from = 2026-01-01
source = "the Go client's tests"
`
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func snapshotTask(ctx context.Context, t *testing.T, client execstreamv1.ExecutionServiceClient, taskID string) *execstreamv1.TaskState {
	t.Helper()
	snapshot, err := client.GetSnapshot(ctx, &execstreamv1.GetSnapshotRequest{TaskIds: []string{taskID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snapshot.GetTasks()) != 1 {
		t.Fatalf("snapshot has %d tasks for %s", len(snapshot.GetTasks()), taskID)
	}
	return snapshot.GetTasks()[0]
}

func stdout(text string) *execstreamv1.ExecutionEvent {
	return &execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_Stdout{Stdout: &execstreamv1.OutputChunk{Text: text}}}
}
