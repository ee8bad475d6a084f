package execstream_test

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
	"github.com/execstream/execstream/clients/go/internal/testserver"
)

func reportLines(t *testing.T, reporter *execstream.Reporter, task *execstream.Task, prefix string, count int) {
	t.Helper()
	for i := range count {
		task.Stdout(fmt.Sprintf("%s %d\n", prefix, i))
	}
	if err := reporter.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
}

// nextEvents reads count events and checks they carry the revisions from+1, from+2, ...
func nextEvents(t *testing.T, watch *execstream.Watch, from uint64, count int) []*execstreamv1.ExecutionEvent {
	t.Helper()
	events := make([]*execstreamv1.ExecutionEvent, 0, count)
	for i := range count {
		event, err := watch.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", i, err)
		}
		if want := from + uint64(i) + 1; event.GetRevision() != want {
			t.Fatalf("event %d has revision %d, want %d (a gap or a duplicate)", i, event.GetRevision(), want)
		}
		events = append(events, event)
	}
	return events
}

func TestWatchReplaysFromZeroInOrderAndOpensWithTheLogIdentity(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	reportLines(t, reporter, reporter.Task("replay"), "line", 5)
	var first *execstreamv1.Progress
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{
		AfterRevision: proto.Uint64(0),
		OnProgress: func(progress *execstreamv1.Progress) {
			if first == nil {
				first = progress
			}
		},
	})
	defer watch.Close()
	events := nextEvents(t, watch, 0, 5)
	if events[4].GetSeq() != 5 || events[4].GetStdout().GetText() != "line 4\n" {
		t.Fatalf("last event %v", events[4])
	}
	if first == nil || first.GetRevision() != 0 || first.GetLogId() == "" || watch.LogID() != first.GetLogId() {
		t.Fatalf("the watch did not open with Progress{revision 0, log_id}: %v", first)
	}
}

func TestLiveWatchStartsExactlyAtItsFirstProgress(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	task := reporter.Task("live")
	reportLines(t, reporter, task, "old", 3)
	opened := make(chan *execstreamv1.Progress, 1)
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{
		OnProgress: func(progress *execstreamv1.Progress) {
			select {
			case opened <- progress:
			default:
			}
		},
	})
	defer watch.Close()
	if start, err := watch.Start(); err != nil || start != 3 {
		t.Fatalf("Start() = %d, %v; want 3", start, err)
	}
	next := make(chan *execstreamv1.ExecutionEvent, 1)
	go func() {
		event, err := watch.Next()
		if err != nil {
			t.Error(err)
		}
		next <- event
	}()
	progress := <-opened
	if progress.GetRevision() != 3 || !progress.GetCaughtUp() {
		t.Fatalf("a live watch opened with %v, want revision 3, caught up", progress)
	}
	reportLines(t, reporter, task, "new", 1)
	if event := <-next; event.GetRevision() != 4 || event.GetStdout().GetText() != "new 0\n" {
		t.Fatalf("first live event %v, want revision 4", event)
	}
}

func TestWatchResumesAcrossAKilledServerWithNoGapOrDuplicate(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	task := reporter.Task("resume")
	reportLines(t, reporter, task, "before", 10)
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{AfterRevision: proto.Uint64(0)})
	defer watch.Close()
	nextEvents(t, watch, 0, 10)
	server.Restart() // kill -9, then start on the same port and store
	reportLines(t, reporter, task, "after", 10)
	events := nextEvents(t, watch, 10, 10)
	if events[0].GetSeq() != 11 || events[9].GetSeq() != 20 {
		t.Fatalf("seqs %d..%d, want 11..20", events[0].GetSeq(), events[9].GetSeq())
	}
	if watch.Reconnects() == 0 {
		t.Fatal("the watch never reconnected: the server was not killed under it")
	}
}

func TestWatchOnAReplacedLogAsksForAResync(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	reportLines(t, reporter, reporter.Task("old-log"), "old", 3)
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{AfterRevision: proto.Uint64(0)})
	defer watch.Close()
	nextEvents(t, watch, 0, 3)
	oldLog := watch.LogID()
	server.RestartOnNewStore()
	reportLines(t, reporter, reporter.Task("new-log"), "new", 5) // the new log passes revision 3
	_, err := watch.Next()
	var resync *execstream.ResyncRequired
	if !errors.As(err, &resync) || resync.OldLogID != oldLog || resync.NewLogID == "" || resync.NewLogID == oldLog {
		t.Fatalf("got %v, want ResyncRequired naming the old and the new log", err)
	}
}

func TestWatchAfterTheHeadAsksForAResync(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	watch := execstream.NewWatch(ctx, server.Client(), execstream.WatchOptions{AfterRevision: proto.Uint64(1000)})
	defer watch.Close()
	_, err := watch.Next()
	var resync *execstream.ResyncRequired
	if !errors.As(err, &resync) || resync.Cause == nil || resync.Cause.Reason != execstreamv1.ErrorReason_REVISION_IN_FUTURE {
		t.Fatalf("got %v, want ResyncRequired for REVISION_IN_FUTURE", err)
	}
	if head, ok := resync.Cause.Uint("head_revision"); !ok || head != 0 {
		t.Fatalf("metadata %v, want head_revision 0", resync.Cause.Metadata)
	}
}
