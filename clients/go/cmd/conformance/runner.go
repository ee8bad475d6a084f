package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// runner holds what the steps share: one reporter, the running watches, the result.
type runner struct {
	client      execstreamv1.ExecutionServiceClient
	plan        scenario
	stdin       *bufio.Reader
	reporter    *execstream.Reporter
	watches     map[string]*backgroundWatch
	watched     map[string][]any
	snapshots   map[string]any
	sends       map[string]any
	watchErrors map[string]any
}

func newRunner(client execstreamv1.ExecutionServiceClient, plan scenario) *runner {
	return &runner{
		client: client, plan: plan, stdin: bufio.NewReader(os.Stdin),
		reporter:    execstream.NewReporter(client, plan.SidecarID, execstream.ReporterOptions{}),
		watches:     map[string]*backgroundWatch{},
		watched:     map[string][]any{},
		snapshots:   map[string]any{},
		sends:       map[string]any{},
		watchErrors: map[string]any{},
	}
}

func (r *runner) result() map[string]any {
	return map[string]any{
		"watches": r.watched, "snapshots": r.snapshots, "sends": r.sends, "watch_errors": r.watchErrors,
	}
}

func (r *runner) play(ctx context.Context, s step) error {
	switch s.Op {
	case "watch":
		watch := execstream.NewWatch(context.Background(), r.client, execstream.WatchOptions{AfterRevision: s.AfterRevision})
		if _, err := watch.Start(); err != nil { // the start point is known before the next step
			watch.Close()
			return err
		}
		r.watches[s.Name] = startBackground(watch)
	case "report":
		return r.report(ctx, s)
	case "await_events":
		return r.watches[s.Watch].waitFor(ctx, s.Count)
	case "collect":
		background := r.watches[s.Watch]
		delete(r.watches, s.Watch)
		err := background.waitFor(ctx, s.Count)
		r.watched[s.Watch] = background.stop()
		return err
	case "restart":
		return awaitRestart(r.stdin)
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

func (r *runner) report(ctx context.Context, s step) error {
	task := r.reporter.Task(s.TaskID) // numbering continues across report steps
	for _, raw := range s.Events {
		event, err := parseEvent(raw)
		if err != nil {
			return err
		}
		task.Send(event)
	}
	return r.reporter.Flush(ctx)
}

func (r *runner) send(ctx context.Context, s step) error {
	events := make([]*execstreamv1.ExecutionEvent, 0, len(s.Events))
	for _, raw := range s.Events {
		event, err := parseEvent(raw)
		if err != nil {
			return err
		}
		events = append(events, event)
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
