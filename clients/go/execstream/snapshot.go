package execstream

import (
	"context"

	"google.golang.org/protobuf/proto"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Snapshot reads every page of GetSnapshot(request) as one Snapshot: the first page with
// the tasks of the later ones appended. Later pages may be at later revisions; the first
// page's revision is the one to watch from (skip a task's watched events at or below its
// last_revision), with WatchOptions.LogID set to its log_id. Each page is bounded by
// CallTimeout and retried by the service config. request is not modified.
func Snapshot(ctx context.Context, client execstreamv1.ExecutionServiceClient, request *execstreamv1.GetSnapshotRequest) (*execstreamv1.Snapshot, error) {
	request = proto.Clone(request).(*execstreamv1.GetSnapshotRequest)
	var merged *execstreamv1.Snapshot
	for {
		pageCtx, cancel := context.WithTimeout(ctx, CallTimeout)
		page, err := client.GetSnapshot(pageCtx, request)
		cancel()
		if err != nil {
			if decoded := DecodeError(err); decoded != nil {
				return nil, decoded
			}
			return nil, err
		}
		if merged == nil {
			merged = page
		} else {
			merged.Tasks = append(merged.Tasks, page.GetTasks()...)
		}
		if page.GetNextPageToken() == "" {
			merged.NextPageToken = ""
			return merged, nil
		}
		request.PageToken = page.GetNextPageToken()
	}
}
