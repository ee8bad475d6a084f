package execstream

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Snapshot reads every page of GetSnapshot(request) as one Snapshot: the first page with
// the tasks of the later ones appended. Later pages may be at later revisions; the first
// page's revision is the one to watch from (skip a task's watched events at or below its
// last_revision), with WatchOptions.LogID set to its log_id. Each page is bounded by
// CallTimeout and tried up to the service config's maxAttempts times, again after a
// backoff when the shared rules say so (UNAVAILABLE, a stream reset, a rate or count limit
// with its RetryInfo floor). request is not modified.
func Snapshot(ctx context.Context, client execstreamv1.ExecutionServiceClient, request *execstreamv1.GetSnapshotRequest) (*execstreamv1.Snapshot, error) {
	request = proto.Clone(request).(*execstreamv1.GetSnapshotRequest)
	var merged *execstreamv1.Snapshot
	for {
		page, err := snapshotPage(ctx, client, request)
		if err != nil {
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

// snapshotPage is one page, retried as the shared rules say; its error is decoded.
func snapshotPage(ctx context.Context, client execstreamv1.ExecutionServiceClient, request *execstreamv1.GetSnapshotRequest) (*execstreamv1.Snapshot, error) {
	policy := mustRetryPolicy("GetSnapshot")
	tries := newAttempts(policy, -1)
	for tried := 1; ; tried++ {
		pageCtx, cancel := context.WithTimeout(ctx, CallTimeout)
		page, err := client.GetSnapshot(pageCtx, request)
		cancel()
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		decoded := DecodeError(err)
		if decoded == nil {
			return nil, err
		}
		verdict := decide(policy, "GetSnapshot", decoded)
		if verdict.action != actionRetry || tried >= policy.MaxAttempts {
			return nil, decoded
		}
		var atLeast time.Duration
		if verdict.atLeast {
			atLeast = decoded.RetryDelay
		}
		if err := tries.wait(ctx, decoded, atLeast); err != nil {
			return nil, err
		}
	}
}
