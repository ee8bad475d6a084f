package execstream_test

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// List, then watch: a snapshot, then a watch from its revision on its log. This is a
// snippet of docs/clients-go.md (compiled here; examples/quickstart checks the page).
func ExampleSnapshot() {
	ctx, client := context.Background(), execstreamv1.ExecutionServiceClient(nil)
	snapshot, err := execstream.Snapshot(ctx, client, &execstreamv1.GetSnapshotRequest{})
	// ... use snapshot.GetTasks() ...
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{
		AfterRevision: proto.Uint64(snapshot.GetRevision()), LogID: snapshot.GetLogId(),
	})
	_, _ = watch, err
}
