package execstream_test

import (
	"testing"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
	"github.com/execstream/execstream/clients/go/internal/testserver"
)

func TestSnapshotReadsEveryPage(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	for _, id := range []string{"page-a", "page-b", "page-c"} {
		reporter.Task(id).Stdout("x\n")
	}
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	snapshot, err := execstream.Snapshot(ctx, client, &execstreamv1.GetSnapshotRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, task := range snapshot.GetTasks() {
		ids = append(ids, task.GetTaskId())
	}
	if len(ids) != 3 || ids[0] != "page-a" || ids[2] != "page-c" || snapshot.GetNextPageToken() != "" {
		t.Fatalf("tasks %v, next page %q; want page-a..page-c and no next page", ids, snapshot.GetNextPageToken())
	}
}
