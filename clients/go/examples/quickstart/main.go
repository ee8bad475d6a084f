// Command quickstart reports one task to an execstream server and watches it back.
//
// With `execstream serve` running on 127.0.0.1:50051 (or EXECSTREAM_TARGET set):
//
//	go run ./examples/quickstart
//
// It is the Go section of docs/clients-go.md, compiled by CI.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	options, err := execstream.OptionsFromEnv() // EXECSTREAM_TARGET, EXECSTREAM_TOKEN, TLS
	if err != nil {
		return err
	}
	conn, err := execstream.Dial(options) // the shared service config: retries, backoff
	if err != nil {
		return err
	}
	defer conn.Close()
	client := execstreamv1.NewExecutionServiceClient(conn)

	// Report: each call numbers the task's next seq; Flush returns once it is committed.
	taskID := fmt.Sprintf("go-quickstart-%d", time.Now().UnixNano())
	reporter := execstream.NewReporter(client, "go-quickstart", execstream.ReporterOptions{})
	task := reporter.Task(taskID)
	task.Started(&execstreamv1.Started{Backend: "anthropic", Model: "claude-haiku-4-5"})
	task.Token("Hello from ")
	task.Token("Go.")
	task.Finished(&execstreamv1.Finished{
		Outcome: execstreamv1.Outcome_OUTCOME_SUCCEEDED,
		Usage: &execstreamv1.Usage{
			InputTokens: 1200, OutputTokens: 40, CacheWriteOneHourTokens: 2048,
		},
	})
	if err := reporter.Flush(ctx); err != nil {
		var refused *execstream.Error
		if errors.As(err, &refused) { // the server's ErrorInfo, decoded
			return fmt.Errorf("refused (%s): %v", refused.ReasonName, refused.Metadata)
		}
		return err
	}

	// Watch it back from the start: resumes by itself, with no gap or duplicate.
	watch := execstream.NewWatch(ctx, client, execstream.WatchOptions{
		TaskIDs: []string{taskID}, AfterRevision: proto.Uint64(0),
	})
	defer watch.Close()
	for {
		event, err := watch.Next()
		if err != nil {
			return err
		}
		switch body := event.GetBody().(type) {
		case *execstreamv1.ExecutionEvent_Token:
			fmt.Print(body.Token.GetText())
		case *execstreamv1.ExecutionEvent_Finished:
			cost := body.Finished.GetCost().GetActual().GetTotalNanos()
			fmt.Printf("\n%s finished: %s, cost %d nano-USD\n", taskID, body.Finished.GetOutcome(), cost)
			return nil
		}
	}
}
