package execstream_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
	"github.com/execstream/execstream/clients/go/internal/testserver"
)

// The rules every execstream client shares (docs/api.md, Retrying), as this client follows
// them: a snapshot page is retried by its own loop, a single report is one message in one
// call, never retried (Dial leaves gRPC's retries off).

// cutFirstProxy closes its first connection at once, then forwards to the server: a
// client's first call through it fails as a lost connection does (UNAVAILABLE, no
// ErrorInfo); the calls after reach the server.
type cutFirstProxy struct {
	listener net.Listener
	mu       sync.Mutex
	cuts     int
}

func startCutFirstProxy(t *testing.T, target string) *cutFirstProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &cutFirstProxy{listener: listener}
	t.Cleanup(func() { _ = listener.Close() })
	go proxy.serve(target)
	return proxy
}

func (p *cutFirstProxy) Address() string { return p.listener.Addr().String() }

func (p *cutFirstProxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *cutFirstProxy) serve(target string) {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cuts == 0
		if cut {
			p.cuts++
		}
		p.mu.Unlock()
		if cut {
			_ = client.Close()
			continue
		}
		go relay(client, target)
	}
}

func relay(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(to, from net.Conn) {
		_, _ = io.Copy(to, from)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
}

func TestASnapshotPageIsRetriedAfterALostConnection(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	if _, err := execstream.Report(ctx, server.Client(), "go-rules", []*execstreamv1.ExecutionEvent{
		{TaskId: "go-snap", Seq: 1, Body: stdout("x\n").GetBody()},
	}); err != nil {
		t.Fatal(err)
	}
	proxy := startCutFirstProxy(t, server.Address())
	conn, err := execstream.Dial(execstream.Options{Target: proxy.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	through := execstreamv1.NewExecutionServiceClient(conn)
	snapshot, err := execstream.Snapshot(ctx, through, &execstreamv1.GetSnapshotRequest{TaskIds: []string{"go-snap"}})
	if err != nil {
		t.Fatalf("snapshot through the proxy: %v", err)
	}
	if proxy.Cuts() != 1 || len(snapshot.GetTasks()) != 1 {
		t.Fatalf("cuts %d, tasks %d; want 1 and 1", proxy.Cuts(), len(snapshot.GetTasks()))
	}
}

func TestASingleReportIsOneCallNeverRetried(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	proxy := startCutFirstProxy(t, server.Address())
	conn, err := execstream.Dial(execstream.Options{Target: proxy.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_, err = execstream.Report(ctx, execstreamv1.NewExecutionServiceClient(conn), "go-rules",
		[]*execstreamv1.ExecutionEvent{{TaskId: "go-once", Seq: 1, Body: stdout("x\n").GetBody()}})
	var lost *execstream.Error
	if !errors.As(err, &lost) || lost.Code != codes.Unavailable {
		t.Fatalf("got %v, want the call's UNAVAILABLE, decoded", err)
	}
	snapshot, err := execstream.Snapshot(ctx, server.Client(), &execstreamv1.GetSnapshotRequest{TaskIds: []string{"go-once"}})
	if err != nil || len(snapshot.GetTasks()) != 0 {
		t.Fatalf("snapshot %v, %v: want nothing stored (nothing resent)", snapshot, err)
	}
}

func TestASingleReportIsAllOrNothing(t *testing.T) {
	ctx, server := testContext(t), testserver.Start(t)
	events := make([]*execstreamv1.ExecutionEvent, 0, 1201)
	for seq := uint64(1); seq <= 1200; seq++ {
		events = append(events, &execstreamv1.ExecutionEvent{TaskId: "go-batch", Seq: seq, Body: stdout(strconv.FormatUint(seq, 10)).GetBody()})
	}
	events = append(events, &execstreamv1.ExecutionEvent{TaskId: "go-batch", Seq: 1202, Body: stdout("gap").GetBody()})
	_, err := execstream.Report(ctx, server.Client(), "go-rules", events)
	if !errors.Is(err, &execstream.Error{Reason: execstreamv1.ErrorReason_SEQ_GAP}) {
		t.Fatalf("got %v, want SEQ_GAP", err)
	}
	snapshot, err := execstream.Snapshot(ctx, server.Client(), &execstreamv1.GetSnapshotRequest{TaskIds: []string{"go-batch"}})
	if err != nil || len(snapshot.GetTasks()) != 0 {
		t.Fatalf("snapshot %v, %v: want nothing of the refused report stored", snapshot, err)
	}
}
