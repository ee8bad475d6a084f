package execstream

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// WatchOptions say what to watch and from where.
type WatchOptions struct {
	TaskIDs    []string
	SidecarIDs []string
	Kinds      []execstreamv1.EventKind
	// AfterRevision nil watches live from now; a value replays every retained event after
	// it first (0 replays from the beginning), then continues live.
	AfterRevision *uint64
	// LogID, when set, is the log the watch must be on (a snapshot's log_id, for
	// list-then-watch): another log is a ResyncRequired from the first Progress.
	LogID string
	// GiveUpAfter bounds consecutive failed reconnects (DefaultGiveUpAfter when zero,
	// never when negative).
	GiveUpAfter time.Duration
	// OnProgress, when set, sees every Progress (the opening one of each stream, the
	// caught-up marker, heartbeats), after the watch has taken its revision.
	OnProgress func(*execstreamv1.Progress)
}

// Watch delivers the events of a WatchExecution in revision order, each exactly once,
// across dropped connections and server restarts.
//
// Its cursor is the highest revision received: from an event, or from a Progress (which
// says everything matching the watch up to its revision was sent; the first Progress of
// a stream names the exact revision the stream starts after). On a drop it reopens with
// after_revision = cursor, so nothing is skipped and nothing repeats. It reconnects by the
// codes and backoff of the shared service config and the reason rules of retrying.go
// (at once after WATCHER_TOO_SLOW), and returns *ResyncRequired when it cannot resume
// (OUT_OF_RANGE, or a new log_id).
//
// A Watch is not safe for concurrent use; call Next from one goroutine.
type Watch struct {
	ctx      context.Context
	cancel   context.CancelFunc
	client   execstreamv1.ExecutionServiceClient
	options  WatchOptions
	attempts attempts

	stream       execstreamv1.ExecutionService_WatchExecutionClient
	closeStream  context.CancelFunc
	streamOpened bool // the current stream sent its first Progress
	caughtUp     bool

	revision    uint64
	hasRevision bool
	logID       string
	reconnects  int
	queue       []*execstreamv1.ExecutionEvent
}

// NewWatch starts watching (the stream opens on the first Next). ctx bounds the whole
// watch, reconnects included; Close ends it early.
func NewWatch(ctx context.Context, client execstreamv1.ExecutionServiceClient, options WatchOptions) *Watch {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watch{ctx: ctx, cancel: cancel, client: client, options: options, logID: options.LogID}
	w.attempts = newAttempts(mustRetryPolicy("WatchExecution"), options.GiveUpAfter)
	if options.AfterRevision != nil {
		w.revision, w.hasRevision = *options.AfterRevision, true
	}
	return w
}

// Next returns the next event. Its error is *ResyncRequired (re-list with GetSnapshot and
// watch again from the snapshot's revision), an *Error the server sent that reconnecting
// cannot cure, the context's error, or the last failure once GiveUpAfter has passed.
func (w *Watch) Next() (*execstreamv1.ExecutionEvent, error) {
	for len(w.queue) == 0 {
		if err := w.receive(); err != nil {
			return nil, err
		}
	}
	event := w.queue[0]
	w.queue = w.queue[1:]
	return event, nil
}

// Start opens the stream, unless it is open, and waits for its first Progress, which
// names the revision the watch starts after (for a live watch: "now"); it returns that
// revision. Next does the same by itself; call Start when the start point must be known
// before going on (e.g. before reporting what a live watch must see). Events that arrive
// meanwhile are kept for Next.
func (w *Watch) Start() (uint64, error) {
	for !w.streamOpened {
		if err := w.receive(); err != nil {
			return 0, err
		}
	}
	return w.revision, nil
}

// Revision is the cursor: the revision the watch would resume after. ok is false while a
// live watch has not yet heard where it starts.
func (w *Watch) Revision() (revision uint64, ok bool) { return w.revision, w.hasRevision }

// LogID is the identity of the log being watched, from the first Progress.
func (w *Watch) LogID() string { return w.logID }

// CaughtUp reports whether the current stream has replayed up to the live head.
func (w *Watch) CaughtUp() bool { return w.caughtUp }

// Reconnects counts the streams reopened after a drop.
func (w *Watch) Reconnects() int { return w.reconnects }

// Close ends the watch; Next then returns context.Canceled.
func (w *Watch) Close() { w.cancel() }

func (w *Watch) receive() error {
	if w.stream == nil {
		if err := w.open(); err != nil {
			return w.failed(err)
		}
	}
	response, err := w.stream.Recv()
	if err != nil {
		w.dropStream()
		return w.failed(err)
	}
	w.attempts.reset()
	return w.accept(response)
}

func (w *Watch) open() error {
	request := &execstreamv1.WatchExecutionRequest{
		TaskIds: w.options.TaskIDs, SidecarIds: w.options.SidecarIDs, Kinds: w.options.Kinds,
	}
	if w.hasRevision {
		request.AfterRevision = proto.Uint64(w.revision)
	}
	streamCtx, closeStream := context.WithCancel(w.ctx)
	stream, err := w.client.WatchExecution(streamCtx, request)
	if err != nil {
		closeStream()
		return err
	}
	w.stream, w.closeStream, w.streamOpened, w.caughtUp = stream, closeStream, false, false
	return nil
}

func (w *Watch) dropStream() {
	if w.closeStream != nil {
		w.closeStream()
	}
	w.stream, w.closeStream = nil, nil
}

// failed decides what a broken stream means: nil to reconnect, or the error to return.
func (w *Watch) failed(err error) error {
	if w.ctx.Err() != nil { // closed or the caller's context ended: not a server's doing
		return w.ctx.Err()
	}
	if errors.Is(err, io.EOF) { // the server ended the stream (it is draining): reconnect
		w.reconnects++
		return w.attempts.wait(w.ctx, errors.New("execstream: the server ended the watch"), 0)
	}
	decoded := DecodeError(err)
	if decoded == nil {
		return err
	}
	verdict := decide(w.attempts.policy, "WatchExecution", decoded)
	switch verdict.action {
	case actionRelist:
		return &ResyncRequired{AfterRevision: w.revision, OldLogID: w.logID, Cause: decoded}
	case actionResume:
		if !w.hasRevision {
			// The cursor is exact: what this watch received and what a Progress promised.
			// resume_revision, the last revision the server wrote to the stream, can be past
			// it by what was in flight when the stream was cut: it only serves a watch that
			// has no cursor yet.
			w.revision, w.hasRevision = verdict.resumeRevision, true
		}
		w.reconnects++
		return nil
	case actionRetry:
		w.reconnects++
		var atLeast time.Duration
		if verdict.atLeast {
			atLeast = decoded.RetryDelay
		}
		return w.attempts.wait(w.ctx, decoded, atLeast)
	}
	return decoded
}

func (w *Watch) accept(response *execstreamv1.WatchExecutionResponse) error {
	for _, event := range response.GetEvents() {
		if w.hasRevision && event.GetRevision() <= w.revision {
			continue // already delivered before a reconnect
		}
		w.queue = append(w.queue, event)
		w.revision, w.hasRevision = event.GetRevision(), true
	}
	progress := response.GetProgress()
	if progress == nil {
		return nil
	}
	if !w.streamOpened {
		w.streamOpened = true
		if w.logID != "" && progress.GetLogId() != "" && progress.GetLogId() != w.logID {
			w.dropStream()
			return &ResyncRequired{AfterRevision: w.revision, OldLogID: w.logID, NewLogID: progress.GetLogId()}
		}
		if progress.GetLogId() != "" {
			w.logID = progress.GetLogId()
		}
	}
	if !w.hasRevision || progress.GetRevision() > w.revision {
		w.revision, w.hasRevision = progress.GetRevision(), true
	}
	if progress.GetCaughtUp() {
		w.caughtUp = true
	}
	if w.options.OnProgress != nil {
		w.options.OnProgress(progress)
	}
	return nil
}
