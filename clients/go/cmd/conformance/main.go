// Command conformance plays tests/conformance/scenario.json through the Go client and
// prints the result, as tests/conformance/README.md (the runner protocol) describes:
//
//	conformance --target 127.0.0.1:PORT --scenario PATH --token TOKEN
//
// Everything the scenario checks goes through package execstream: the reporter numbers
// and commits, the watches resume by themselves, the errors come decoded.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// scenario is tests/conformance/scenario.json.
type scenario struct {
	SidecarID      string `json:"sidecar_id"`
	TimeoutSeconds int    `json:"timeout_seconds"`
	Steps          []step `json:"steps"`
}

type step struct {
	Op            string            `json:"op"`
	Name          string            `json:"name"`
	AfterRevision *uint64           `json:"after_revision"`
	TaskID        string            `json:"task_id"`
	TaskIDs       []string          `json:"task_ids"`
	Events        []json.RawMessage `json:"events"`
	Watch         string            `json:"watch"`
	Count         int               `json:"count"`
	Wait          *bool             `json:"wait"`   // report: absent is true
	Relist        bool              `json:"relist"` // watch: re-list when it cannot resume
	Fill          *fill             `json:"fill"`   // send: generated events before Events
}

// fill is Count copies of Event for TaskID, numbered from seq 1.
type fill struct {
	TaskID string          `json:"task_id"`
	Count  int             `json:"count"`
	Event  json.RawMessage `json:"event"`
}

var stdout = json.NewEncoder(os.Stdout)

func emit(line map[string]any) {
	if err := stdout.Encode(line); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: stdout:", err)
		os.Exit(2)
	}
}

func main() {
	target := flag.String("target", "", "server address, host:port")
	scenarioPath := flag.String("scenario", "", "scenario.json")
	token := flag.String("token", "", "bearer token")
	flag.Parse()
	result, err := run(*target, *scenarioPath, *token)
	if err != nil {
		emit(map[string]any{"error": err.Error()})
		os.Exit(1)
	}
	emit(map[string]any{"result": result})
}

func run(target, scenarioPath, token string) (map[string]any, error) {
	text, err := os.ReadFile(scenarioPath)
	if err != nil {
		return nil, err
	}
	var plan scenario
	if err := json.Unmarshal(text, &plan); err != nil {
		return nil, fmt.Errorf("%s: %w", scenarioPath, err)
	}
	conn, err := execstream.Dial(execstream.Options{Target: target, Token: token})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r := newRunner(execstreamv1.NewExecutionServiceClient(conn), plan)
	defer r.stopWatches()
	for number, s := range plan.Steps {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
		err := r.play(ctx, number, s)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("step %d (%s): %w", number+1, s.Op, err)
		}
		line := map[string]any{"step": s.Op}
		if s.Name != "" {
			line["name"] = s.Name
		}
		emit(line)
	}
	return r.result(), nil
}

// awaitHarness hands the step at index to the harness, then blocks until it is done.
func awaitHarness(stdin *bufio.Reader, index int) error {
	emit(map[string]any{"step": "await_harness", "index": index})
	line, err := stdin.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if line != "done\n" {
		return fmt.Errorf("expected 'done' on stdin, got %q", line)
	}
	return nil
}
