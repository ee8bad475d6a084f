package execstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
	"github.com/execstream/execstream/clients/go/internal/testserver"
)

func TestFlushCommitsEventsNumberedPerTask(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{MaxBatch: 2})
	first, second := reporter.Task("first"), reporter.Task("second")
	for i := range 5 {
		first.Stdout(fmt.Sprintf("first %d\n", i))
		if i < 3 {
			second.Stdout(fmt.Sprintf("second %d\n", i))
		}
	}
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snapshotTask(ctx, t, client, "first").GetLastSeq(); got != 5 {
		t.Errorf("first: last_seq %d, want 5", got)
	}
	if got := snapshotTask(ctx, t, client, "second").GetLastSeq(); got != 3 {
		t.Errorf("second: last_seq %d, want 3", got)
	}
	if reporter.Pending() != 0 {
		t.Errorf("%d events still pending", reporter.Pending())
	}
}

func TestFlushResendsWhatAKilledServerLost(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	task := reporter.Task("crash")
	for i := range 3 {
		task.Stdout(fmt.Sprintf("before %d\n", i))
	}
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	server.Kill()
	for i := range 3 {
		task.Stdout(fmt.Sprintf("after %d\n", i))
	}
	flushed := make(chan error, 1)
	go func() { flushed <- reporter.Flush(ctx) }()
	server.Restart()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	state := snapshotTask(ctx, t, client, "crash")
	if state.GetLastSeq() != 6 || state.GetEventCount() != 6 {
		t.Fatalf("last_seq %d, event_count %d, want 6 and 6", state.GetLastSeq(), state.GetEventCount())
	}
}

// loseFirstAck makes the first ReportProgress fail with UNAVAILABLE after the server has
// answered it: the events are committed but the sidecar never hears so.
func loseFirstAck(calls *int) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		stream, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil || method != execstreamv1.ExecutionService_ReportProgress_FullMethodName {
			return stream, err
		}
		*calls++
		return &ackLosingStream{ClientStream: stream, lose: *calls == 1}, nil
	}
}

type ackLosingStream struct {
	grpc.ClientStream
	lose bool
}

func (s *ackLosingStream) RecvMsg(message any) error {
	if err := s.ClientStream.RecvMsg(message); err != nil || !s.lose {
		return err
	}
	return status.Error(codes.Unavailable, "the acknowledgement was lost")
}

func TestLostAcknowledgementIsSettledFromTheSnapshotNotResent(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	calls := 0
	options := execstream.Options{Target: server.Address()}
	conn, err := execstream.Dial(options, grpc.WithStreamInterceptor(loseFirstAck(&calls)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := execstreamv1.NewExecutionServiceClient(conn)
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	task := reporter.Task("lost-ack")
	for i := range 4 {
		task.Stdout(fmt.Sprintf("line %d\n", i))
	}
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("%d ReportProgress calls: the committed events were resent", calls)
	}
	if state := snapshotTask(ctx, t, client, "lost-ack"); state.GetLastSeq() != 4 {
		t.Errorf("last_seq %d, want 4", state.GetLastSeq())
	}
}

func TestSeqGapIsRefusedWithTheExpectedSeq(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	send := func(seq uint64) error {
		event := stdout("x\n")
		event.TaskId, event.Seq = "gap", seq
		_, err := execstream.Report(ctx, client, "go-sidecar", []*execstreamv1.ExecutionEvent{event})
		return err
	}
	if err := send(1); err != nil {
		t.Fatal(err)
	}
	refused := execstream.DecodeError(send(3))
	if refused == nil || refused.CodeName() != "FAILED_PRECONDITION" || refused.Reason != execstreamv1.ErrorReason_SEQ_GAP {
		t.Fatalf("got %v, want FAILED_PRECONDITION SEQ_GAP", refused)
	}
	if expected, ok := refused.Uint("expected_seq"); !ok || expected != 2 || refused.Metadata["task_id"] != "gap" {
		t.Fatalf("metadata %v, want task_id gap and expected_seq 2", refused.Metadata)
	}
}

func TestResentSeqWithOtherContentIsASeqConflict(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	client := server.Client()
	original := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	original.Task("conflict").Stdout("the first run\n")
	if err := original.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rerun := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	rerun.Task("conflict").Stdout("a second run\n")
	err := rerun.Flush(ctx)
	if !errors.Is(err, &execstream.Error{Reason: execstreamv1.ErrorReason_SEQ_CONFLICT}) {
		t.Fatalf("got %v, want SEQ_CONFLICT", err)
	}
	refused := execstream.DecodeError(err)
	if refused.Code != codes.AlreadyExists || refused.Metadata["task_id"] != "conflict" || refused.Metadata["seq"] != "1" {
		t.Fatalf("got %v %v, want ALREADY_EXISTS naming task conflict and seq 1", refused.Code, refused.Metadata)
	}
	if rerun.Pending() != 1 {
		t.Fatalf("the refused event was dropped: %d pending", rerun.Pending())
	}
}

func TestOneHourCacheWriteIsBilled(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t, "--pricing", priceTable(t))
	client := server.Client()
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{})
	task := reporter.Task("cache-1h")
	task.Started(&execstreamv1.Started{Backend: "anthropic", Model: "go-test-model"})
	task.Finished(&execstreamv1.Finished{
		Outcome: execstreamv1.Outcome_OUTCOME_SUCCEEDED,
		Usage:   &execstreamv1.Usage{Model: "go-test-model", CacheWriteOneHourTokens: 1_000_000},
	})
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	state := snapshotTask(ctx, t, client, "cache-1h")
	if got := state.GetUsage().GetCacheWriteOneHourTokens(); got != 1_000_000 {
		t.Fatalf("usage has %d one-hour cache-write tokens, want 1000000", got)
	}
	// 1,000,000 tokens at 3.00 USD per million: 3 USD.
	if got := state.GetCost().GetActual().GetCacheWriteNanos(); got != 3_000_000_000 {
		t.Fatalf("cache_write_nanos %d, want 3000000000", got)
	}
}

// countSnapshots counts GetSnapshot calls.
func countSnapshots(calls *int) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, request, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == execstreamv1.ExecutionService_GetSnapshot_FullMethodName {
			*calls++
		}
		return invoker(ctx, method, request, reply, cc, opts...)
	}
}

// countReports counts ReportProgress calls.
func countReports(calls *int) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if method == execstreamv1.ExecutionService_ReportProgress_FullMethodName {
			*calls++
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}

func TestRateLimitedFlushResendsWhatTheRefusalSaysIsMissing(t *testing.T) {
	ctx := testContext(t)
	server := testserver.Start(t, "--sidecar-events-per-second", "20", "--sidecar-burst-events", "5")
	snapshots, reports := 0, 0
	conn, err := execstream.Dial(execstream.Options{Target: server.Address()},
		grpc.WithUnaryInterceptor(countSnapshots(&snapshots)), grpc.WithStreamInterceptor(countReports(&reports)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := execstreamv1.NewExecutionServiceClient(conn)
	reporter := execstream.NewReporter(client, "go-sidecar", execstream.ReporterOptions{MaxBatch: 5})
	task := reporter.Task("limited")
	for i := range 12 {
		task.Stdout(fmt.Sprintf("line %d\n", i))
	}
	if err := reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if reports < 2 {
		t.Fatalf("%d ReportProgress calls: the rate limit never refused a report", reports)
	}
	if snapshots != 0 {
		t.Errorf("%d GetSnapshot calls: the refusal's committed seqs were not used", snapshots)
	}
	if state := snapshotTask(ctx, t, client, "limited"); state.GetLastSeq() != 12 || state.GetEventCount() != 12 {
		t.Fatalf("last_seq %d, event_count %d; want 12 and 12", state.GetLastSeq(), state.GetEventCount())
	}
}
