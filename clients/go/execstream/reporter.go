package execstream

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// DefaultMaxBatch is how many events the reporter puts in one ProgressReport message.
const DefaultMaxBatch = 1000

// CallTimeout bounds one ReportProgress call and one GetSnapshot page, so that a call whose
// answer is lost does not hang; the reporter then resends, which is safe.
const CallTimeout = 30 * time.Second

// ReporterOptions tune a Reporter; the zero value takes the defaults.
type ReporterOptions struct {
	MaxBatch    int           // events per ProgressReport message (DefaultMaxBatch when zero)
	GiveUpAfter time.Duration // consecutive failures before Flush gives up (0: DefaultGiveUpAfter, <0: never)
}

// Reporter is a sidecar's side of ReportProgress. Each Task numbers its events (seq from
// 1, or on from where the server stands for ResumeTask); events wait in memory until
// Flush sends them in batches over one stream and returns once the server has committed
// them. When a stream breaks with a retryable code (or a rate limit), Flush drops what
// the server already has and resends the rest, so every event is stored exactly once: the
// refusal says what is committed per task, and a stream that broke without a word is
// asked GetSnapshot for each pending task's last_seq. If the snapshot is refused (a token that may not
// read it), it resends everything pending: the server acknowledges the repeats as
// duplicates without storing them again.
//
// A Reporter and its Tasks are safe for concurrent use.
type Reporter struct {
	client    execstreamv1.ExecutionServiceClient
	sidecarID string
	maxBatch  int
	policy    RetryPolicy
	giveUp    time.Duration

	mu      sync.Mutex
	flushMu sync.Mutex // one Flush at a time, so batches go out in seq order
	pending []*execstreamv1.ExecutionEvent
	nextSeq map[string]uint64
}

// NewReporter reports for sidecarID.
func NewReporter(client execstreamv1.ExecutionServiceClient, sidecarID string, options ReporterOptions) *Reporter {
	maxBatch := options.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	return &Reporter{
		client: client, sidecarID: sidecarID, maxBatch: maxBatch,
		policy: mustRetryPolicy("ReportProgress"), giveUp: options.GiveUpAfter, nextSeq: map[string]uint64{},
	}
}

// Task returns the handle of a new task, numbering its events from seq 1.
func (r *Reporter) Task(taskID string) *Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, known := r.nextSeq[taskID]; !known {
		r.nextSeq[taskID] = 1
	}
	return &Task{reporter: r, id: taskID}
}

// ResumeTask returns the handle of a task an earlier process reported, numbering on
// from the task's last_seq in the snapshot.
func (r *Reporter) ResumeTask(ctx context.Context, taskID string) (*Task, error) {
	lastSeq, err := r.lastSeqs(ctx, []string{taskID})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSeq[taskID] = max(r.nextSeq[taskID], lastSeq[taskID]+1)
	return &Task{reporter: r, id: taskID}, nil
}

// Pending counts the events not yet committed.
func (r *Reporter) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// enqueue numbers event for its task and queues it; it returns the seq.
func (r *Reporter) enqueue(taskID string, event *execstreamv1.ExecutionEvent) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.nextSeq[taskID]
	r.nextSeq[taskID] = seq + 1
	event.TaskId, event.Seq = taskID, seq
	if event.Time == nil { // a resend must be identical, or it would be a SEQ_CONFLICT
		event.Time = timestamppb.Now()
	}
	r.pending = append(r.pending, event)
	return seq
}

// Flush sends every pending event and returns when the server has committed them all.
// Its error is an *Error the server sent that resending cannot cure (SEQ_GAP,
// SEQ_CONFLICT, TASK_FINISHED, INVALID_FIELD, ...: the refused message and everything
// after it stay pending), the context's error, or the last failure once GiveUpAfter
// has passed.
func (r *Reporter) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	tries := newAttempts(r.policy, r.giveUp)
	for {
		batch := r.pendingCopy()
		if len(batch) == 0 {
			return nil
		}
		response, err := r.send(ctx, batch)
		if err == nil {
			r.committed(response.GetTasks())
			return nil
		}
		if err := r.recover(ctx, &tries, err); err != nil {
			return err
		}
	}
}

// recover decides what a failed stream means: nil to resend what the server lacks, or
// the error to return.
func (r *Reporter) recover(ctx context.Context, tries *attempts, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	decoded := DecodeError(err)
	if decoded == nil {
		return err
	}
	verdict := decide(r.policy, "ReportProgress", decoded)
	if decoded.Code == codes.DeadlineExceeded { // this reporter's own CallTimeout: the answer is lost
		verdict = decision{action: actionRetry}
	}
	if verdict.action != actionRetry {
		return decoded
	}
	var atLeast time.Duration
	if verdict.atLeast {
		atLeast = decoded.RetryDelay
	}
	if err := tries.wait(ctx, decoded, atLeast); err != nil {
		return err
	}
	// A refusal says what is committed for every task the stream touched; a stream that
	// broke without a word is asked a snapshot. When the snapshot cannot be read (the
	// server is still down, or the token may not read it), everything pending is resent:
	// the server acknowledges repeats as duplicates, and a send to a server still down
	// fails and waits again.
	if told := decoded.Committed; told != nil && covers(told.GetTasks(), r.pendingTasks()) {
		r.committed(told.GetTasks())
	} else if lastSeq, err := r.lastSeqs(ctx, r.pendingTasks()); err == nil {
		r.committed(acks(lastSeq))
	}
	return nil
}

// covers reports whether acks name every task in taskIDs.
func covers(acks []*execstreamv1.TaskAck, taskIDs []string) bool {
	named := make(map[string]bool, len(acks))
	for _, ack := range acks {
		named[ack.GetTaskId()] = true
	}
	for _, id := range taskIDs {
		if !named[id] {
			return false
		}
	}
	return true
}

func (r *Reporter) send(ctx context.Context, batch []*execstreamv1.ExecutionEvent) (*execstreamv1.ReportProgressResponse, error) {
	return report(ctx, r.client, r.sidecarID, batch, r.maxBatch)
}

// Report is one ReportProgress call with events exactly as given (seqs included: nothing
// is numbered, nothing is resent), as one ProgressReport message, so all of them are
// stored or none. It returns the server's response once the events are committed, or the
// error decoded by DecodeError (an UNAVAILABLE too: SHUTTING_DOWN, with what the call got
// committed in Committed).
func Report(ctx context.Context, client execstreamv1.ExecutionServiceClient, sidecarID string, events []*execstreamv1.ExecutionEvent) (*execstreamv1.ReportProgressResponse, error) {
	response, err := report(ctx, client, sidecarID, events, max(1, len(events)))
	if decoded := DecodeError(err); decoded != nil {
		return nil, decoded
	}
	return response, err
}

// report streams events (in messages of maxBatch events) and waits for the commit, for
// CallTimeout at most.
func report(ctx context.Context, client execstreamv1.ExecutionServiceClient, sidecarID string, events []*execstreamv1.ExecutionEvent, maxBatch int) (*execstreamv1.ReportProgressResponse, error) {
	streamCtx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	stream, err := client.ReportProgress(streamCtx)
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(events); start += maxBatch {
		end := min(start+maxBatch, len(events))
		message := &execstreamv1.ProgressReport{SidecarId: sidecarID, Events: events[start:end]}
		if err := stream.Send(message); err != nil {
			if errors.Is(err, io.EOF) { // the server ended the call: its status says why
				break
			}
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

func (r *Reporter) pendingCopy() []*execstreamv1.ExecutionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*execstreamv1.ExecutionEvent(nil), r.pending...)
}

func (r *Reporter) pendingTasks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var tasks []string
	for _, event := range r.pending {
		if !seen[event.GetTaskId()] {
			seen[event.GetTaskId()] = true
			tasks = append(tasks, event.GetTaskId())
		}
	}
	return tasks
}

// committed drops the pending events at or below each task's committed seq.
func (r *Reporter) committed(tasks []*execstreamv1.TaskAck) {
	lastSeq := map[string]uint64{}
	for _, ack := range tasks {
		lastSeq[ack.GetTaskId()] = ack.GetLastSeq()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.pending[:0]
	for _, event := range r.pending {
		if last, known := lastSeq[event.GetTaskId()]; !known || event.GetSeq() > last {
			kept = append(kept, event)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
}

// lastSeqs reads each task's last committed seq (0 for a task the server does not have).
func (r *Reporter) lastSeqs(ctx context.Context, taskIDs []string) (map[string]uint64, error) {
	lastSeq := make(map[string]uint64, len(taskIDs))
	for _, id := range taskIDs {
		lastSeq[id] = 0
	}
	snapshot, err := Snapshot(ctx, r.client, &execstreamv1.GetSnapshotRequest{TaskIds: taskIDs})
	if err != nil {
		return nil, err
	}
	for _, task := range snapshot.GetTasks() {
		lastSeq[task.GetTaskId()] = task.GetLastSeq()
	}
	return lastSeq, nil
}

func acks(lastSeq map[string]uint64) []*execstreamv1.TaskAck {
	tasks := make([]*execstreamv1.TaskAck, 0, len(lastSeq))
	for id, seq := range lastSeq {
		tasks = append(tasks, &execstreamv1.TaskAck{TaskId: id, LastSeq: seq})
	}
	return tasks
}
