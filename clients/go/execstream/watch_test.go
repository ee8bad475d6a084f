package execstream

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// These tests check how a watch reads what ended its stream; the server tests cover the
// resume itself.

func watchAt(t *testing.T, revision uint64) *Watch {
	t.Helper()
	watch := NewWatch(context.Background(), nil, WatchOptions{AfterRevision: proto.Uint64(revision)})
	t.Cleanup(watch.Close)
	return watch
}

func TestWatcherTooSlowResumesAtOnceFromItsOwnCursor(t *testing.T) {
	watch := watchAt(t, 50)
	err := statusError(t, codes.ResourceExhausted, &errdetails.ErrorInfo{
		Domain: Domain, Reason: "WATCHER_TOO_SLOW", Metadata: map[string]string{"resume_revision": "40"},
	})
	if got := watch.failed(err); got != nil {
		t.Fatalf("failed() = %v, want a resume", got)
	}
	if revision, _ := watch.Revision(); revision != 50 {
		t.Fatalf("resumes after %d, want 50 (never back before what the watch has)", revision)
	}
}

func TestAWatchWithNoCursorResumesFromTheResumeRevision(t *testing.T) {
	watch := NewWatch(context.Background(), nil, WatchOptions{}) // live, start not heard yet
	t.Cleanup(watch.Close)
	err := statusError(t, codes.ResourceExhausted, &errdetails.ErrorInfo{
		Domain: Domain, Reason: "WATCHER_TOO_SLOW", Metadata: map[string]string{"resume_revision": "40"},
	})
	if got := watch.failed(err); got != nil {
		t.Fatalf("failed() = %v, want a resume", got)
	}
	if revision, ok := watch.Revision(); !ok || revision != 40 {
		t.Fatalf("resumes after %d (%v), want 40", revision, ok)
	}
}

func TestResumeRevisionNeverSkipsPastWhatWasReceived(t *testing.T) {
	watch := watchAt(t, 50)
	err := statusError(t, codes.ResourceExhausted, &errdetails.ErrorInfo{
		Domain: Domain, Reason: "WATCHER_TOO_SLOW", Metadata: map[string]string{"resume_revision": "60"},
	})
	if got := watch.failed(err); got != nil {
		t.Fatal(got)
	}
	if revision, _ := watch.Revision(); revision != 50 {
		t.Fatalf("resumes after %d, want 50 (the last revision received)", revision)
	}
}

func TestOutOfRangeIsResyncRequired(t *testing.T) {
	watch := watchAt(t, 7)
	err := statusError(t, codes.OutOfRange, &errdetails.ErrorInfo{
		Domain: Domain, Reason: "REVISION_COMPACTED", Metadata: map[string]string{"oldest_revision": "100"},
	})
	var resync *ResyncRequired
	if !errors.As(watch.failed(err), &resync) || resync.AfterRevision != 7 || resync.Cause.Reason != execstreamv1.ErrorReason_REVISION_COMPACTED {
		t.Fatalf("got %v, want ResyncRequired after 7", resync)
	}
}

func TestARefusalThatRetryingCannotCureIsReturned(t *testing.T) {
	watch := watchAt(t, 0)
	err := statusError(t, codes.PermissionDenied, &errdetails.ErrorInfo{Domain: Domain, Reason: "ROLE_FORBIDDEN"})
	if got := DecodeError(watch.failed(err)); got == nil || got.Reason != execstreamv1.ErrorReason_ROLE_FORBIDDEN {
		t.Fatalf("got %v, want ROLE_FORBIDDEN", got)
	}
}

func TestACancelledWatchReturnsTheContextError(t *testing.T) {
	watch := watchAt(t, 0)
	watch.Close()
	if got := watch.failed(io.EOF); !errors.Is(got, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", got)
	}
}

func TestAnEventAtOrBelowTheCursorIsNotDeliveredTwice(t *testing.T) {
	watch := watchAt(t, 5)
	response := &execstreamv1.WatchExecutionResponse{Events: []*execstreamv1.ExecutionEvent{
		{Revision: 4}, {Revision: 5}, {Revision: 6},
	}}
	if err := watch.accept(response); err != nil {
		t.Fatal(err)
	}
	if len(watch.queue) != 1 || watch.queue[0].GetRevision() != 6 {
		t.Fatalf("queued %v, want only revision 6", watch.queue)
	}
}

func TestAHeartbeatAdvancesTheCursor(t *testing.T) {
	watch := watchAt(t, 5)
	progress := &execstreamv1.Progress{Revision: 9, LogId: "log-a"}
	if err := watch.accept(&execstreamv1.WatchExecutionResponse{Progress: progress}); err != nil {
		t.Fatal(err)
	}
	if revision, _ := watch.Revision(); revision != 9 || watch.LogID() != "log-a" {
		t.Fatalf("cursor %d on %q, want 9 on log-a", revision, watch.LogID())
	}
}

func TestAWatchOnAnotherLogThanTheSnapshotsAsksForAResync(t *testing.T) {
	watch := NewWatch(context.Background(), nil, WatchOptions{AfterRevision: proto.Uint64(5), LogID: "log-a"})
	defer watch.Close()
	err := watch.accept(&execstreamv1.WatchExecutionResponse{Progress: &execstreamv1.Progress{Revision: 5, LogId: "log-b"}})
	var resync *ResyncRequired
	if !errors.As(err, &resync) || resync.OldLogID != "log-a" || resync.NewLogID != "log-b" {
		t.Fatalf("got %v, want ResyncRequired from log-a to log-b", err)
	}
}
