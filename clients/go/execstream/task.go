package execstream

import (
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Task numbers and queues the events of one task; Reporter.Flush sends them. Each method
// returns the event's seq.
type Task struct {
	reporter *Reporter
	id       string
}

// ID is the task's id.
func (t *Task) ID() string { return t.id }

// Send queues event with this task's id and next seq (its time, when unset, is now).
func (t *Task) Send(event *execstreamv1.ExecutionEvent) uint64 {
	return t.reporter.enqueue(t.id, event)
}

// Started reports that the task began running on backend (and model, for a model call).
func (t *Task) Started(started *execstreamv1.Started) uint64 {
	return t.Send(&execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_Started{Started: started}})
}

// Token reports a chunk of model output.
func (t *Task) Token(text string) uint64 {
	body := &execstreamv1.ExecutionEvent_Token{Token: &execstreamv1.TokenChunk{Text: text}}
	return t.Send(&execstreamv1.ExecutionEvent{Body: body})
}

// Stdout reports a chunk of standard output.
func (t *Task) Stdout(text string) uint64 {
	body := &execstreamv1.ExecutionEvent_Stdout{Stdout: &execstreamv1.OutputChunk{Text: text}}
	return t.Send(&execstreamv1.ExecutionEvent{Body: body})
}

// Stderr reports a chunk of standard error.
func (t *Task) Stderr(text string) uint64 {
	body := &execstreamv1.ExecutionEvent_Stderr{Stderr: &execstreamv1.OutputChunk{Text: text}}
	return t.Send(&execstreamv1.ExecutionEvent{Body: body})
}

// Status reports a status change (RUNNING, or RETRYING with the failed attempt's usage).
func (t *Task) Status(change *execstreamv1.StatusChange) uint64 {
	return t.Send(&execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_Status{Status: change}})
}

// Error reports an error that does not end the task by itself.
func (t *Task) Error(report *execstreamv1.ErrorReport) uint64 {
	return t.Send(&execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_Error{Error: report}})
}

// ToolCall reports a tool call of an agentic run.
func (t *Task) ToolCall(call *execstreamv1.ToolCall) uint64 {
	return t.Send(&execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_ToolCall{ToolCall: call}})
}

// Finished reports how the task ended, with the usage the server prices.
func (t *Task) Finished(finished *execstreamv1.Finished) uint64 {
	return t.Send(&execstreamv1.ExecutionEvent{Body: &execstreamv1.ExecutionEvent_Finished{Finished: finished}})
}
