package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// runner holds what the steps share: one reporter, the running watches, the result.
type runner struct {
	client       execstreamv1.ExecutionServiceClient
	plan         scenario
	stdin        *bufio.Reader
	reporter     *execstream.Reporter
	flushing     chan error // the outcome of a report step that did not wait for it
	watches      map[string]*backgroundWatch
	watched      map[string][]any
	relists      map[string][]any
	snapshots    map[string]any
	sends        map[string]any
	reportErrors map[string]any
	watchErrors  map[string]any
}

func newRunner(client execstreamv1.ExecutionServiceClient, plan scenario) *runner {
	return &runner{
		client: client, plan: plan, stdin: bufio.NewReader(os.Stdin),
		reporter:     execstream.NewReporter(client, plan.SidecarID, execstream.ReporterOptions{}),
		watches:      map[string]*backgroundWatch{},
		watched:      map[string][]any{},
		relists:      map[string][]any{},
		snapshots:    map[string]any{},
		sends:        map[string]any{},
		reportErrors: map[string]any{},
		watchErrors:  map[string]any{},
	}
}

func (r *runner) timeout() time.Duration { return time.Duration(r.plan.TimeoutSeconds) * time.Second }

func (r *runner) result() map[string]any {
	return map[string]any{
		"watches": r.watched, "relists": r.relists, "snapshots": r.snapshots, "sends": r.sends,
		"report_errors": r.reportErrors, "watch_errors": r.watchErrors,
	}
}

func (r *runner) play(ctx context.Context, index int, s step) error {
	switch s.Op {
	case "watch":
		background, err := startBackground(r.client, s.AfterRevision, s.Relist)
		if err != nil {
			return err
		}
		r.watches[s.Name] = background
	case "report":
		return r.report(ctx, s)
	case "await_flush":
		return r.awaitFlush(ctx)
	case "report_error":
		return r.reportError(ctx, s)
	case "await_events":
		return r.watches[s.Watch].waitFor(ctx, s.Count, false)
	case "await_relist":
		return r.watches[s.Watch].waitFor(ctx, s.Count, true)
	case "collect":
		background := r.watches[s.Watch]
		delete(r.watches, s.Watch)
		err := background.waitFor(ctx, s.Count, false)
		r.watched[s.Watch] = background.stop()
		if background.relists {
			r.relists[s.Watch] = background.relisted()
		}
		return err
	case "kill", "start":
		return awaitHarness(r.stdin, index)
	case "snapshot":
		snapshot, err := execstream.Snapshot(ctx, r.client, &execstreamv1.GetSnapshotRequest{TaskIds: s.TaskIDs})
		if err != nil {
			return err
		}
		r.snapshots[s.Name] = message(snapshot)
	case "send":
		return r.send(ctx, s)
	case "watch_error":
		outcome, err := watchError(ctx, r.client, s.AfterRevision)
		r.watchErrors[s.Name] = outcome
		return err
	default:
		return fmt.Errorf("unknown op %q", s.Op)
	}
	return nil
}

// report queues the events on the one reporter and flushes, or (wait false) leaves the
// flush running for await_flush, with a deadline of its own.
func (r *runner) report(ctx context.Context, s step) error {
	task := r.reporter.Task(s.TaskID) // numbering continues across report steps
	for _, raw := range s.Events {
		event, err := parseEvent(raw)
		if err != nil {
			return err
		}
		task.Send(event)
	}
	if s.Wait == nil || *s.Wait {
		return r.reporter.Flush(ctx)
	}
	r.flushing = make(chan error, 1)
	go func(done chan<- error) {
		flushCtx, cancel := context.WithTimeout(context.Background(), r.timeout())
		defer cancel()
		done <- r.reporter.Flush(flushCtx)
	}(r.flushing)
	return nil
}

func (r *runner) awaitFlush(ctx context.Context) error {
	if r.flushing == nil {
		return errors.New("no report is flushing")
	}
	select {
	case err := <-r.flushing:
		r.flushing = nil
		return err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("the flush did not finish"))
	}
}

// reportError reports through the reporter and keeps the refusal it expects.
func (r *runner) reportError(ctx context.Context, s step) error {
	err := r.report(ctx, s)
	var refused *execstream.Error
	switch {
	case err == nil:
		r.reportErrors[s.Name] = map[string]any{"response": "committed"}
	case errors.As(err, &refused):
		r.reportErrors[s.Name] = map[string]any{"error": errorJSON(refused)}
	default:
		return err
	}
	return nil
}

func (r *runner) send(ctx context.Context, s step) error {
	events, err := sendEvents(s)
	if err != nil {
		return err
	}
	response, err := execstream.Report(ctx, r.client, r.plan.SidecarID, events)
	if err == nil {
		r.sends[s.Name] = map[string]any{"response": message(response)}
		return nil
	}
	var refused *execstream.Error
	if !errors.As(err, &refused) {
		return err
	}
	r.sends[s.Name] = map[string]any{"error": errorJSON(refused)}
	return nil
}

// sendEvents is a send's events: the fill (seqs from 1), then the events as given.
func sendEvents(s step) ([]*execstreamv1.ExecutionEvent, error) {
	events := make([]*execstreamv1.ExecutionEvent, 0, len(s.Events))
	if s.Fill != nil {
		for seq := 1; seq <= s.Fill.Count; seq++ {
			event, err := parseEvent(s.Fill.Event)
			if err != nil {
				return nil, err
			}
			event.TaskId, event.Seq = s.Fill.TaskID, uint64(seq)
			events = append(events, event)
		}
	}
	for _, raw := range s.Events {
		event, err := parseEvent(raw)
		if err != nil {
			return nil, err
		}
		events = append(events, event)
	}
	return events, nil
}

// watchError watches with no re-list handler and expects the client's typed error.
func watchError(ctx context.Context, client execstreamv1.ExecutionServiceClient, after *uint64) (map[string]any, error) {
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{AfterRevision: after})
	defer watch.Close()
	_, err := watch.Next()
	var resync *execstream.ResyncRequired
	var refused *execstream.Error
	switch {
	case err == nil:
		return map[string]any{"response": "no error"}, nil
	case errors.As(err, &resync) && resync.Cause == nil:
		return map[string]any{"error": map[string]any{"code": "", "reason": "LOG_CHANGED"}}, nil
	case errors.As(err, &refused):
		return map[string]any{"error": errorJSON(refused)}, nil
	}
	return nil, err
}

func (r *runner) stopWatches() {
	for _, background := range r.watches {
		background.stop()
	}
}

func parseEvent(raw []byte) (*execstreamv1.ExecutionEvent, error) {
	event := &execstreamv1.ExecutionEvent{}
	if err := protojson.Unmarshal(raw, event); err != nil {
		return nil, fmt.Errorf("event %s: %w", raw, err)
	}
	return event, nil
}
