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
	"time"

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
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(plan.TimeoutSeconds)*time.Second)
		err := r.play(ctx, s)
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

// awaitRestart is the restart handshake: announce, then block until the harness has
// killed and restarted the server.
func awaitRestart(stdin *bufio.Reader) error {
	emit(map[string]any{"step": "await_restart"})
	line, err := stdin.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if line != "restarted\n" {
		return fmt.Errorf("expected 'restarted' on stdin, got %q", line)
	}
	return nil
}
