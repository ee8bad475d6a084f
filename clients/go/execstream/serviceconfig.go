package execstream

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// serviceConfigJSON is protos/execstream/v1/service_config.json, copied here by
// scripts/gen_go (go:embed cannot reach outside the module); CI fails when the copy is stale.
//
//go:embed service_config.json
var serviceConfigJSON string

// ServiceName is the full name of the gRPC service, as the service config names it.
const ServiceName = "execstream.v1.ExecutionService"

// ServiceConfigJSON is the gRPC service config shared by every execstream client: which
// status codes each method retries, and with what backoff. Dial passes it to grpc-go as the
// default service config.
func ServiceConfigJSON() string { return serviceConfigJSON }

// RetryPolicy is one method's retry policy from the service config. The watch and the
// reporter use it for their own reconnects, which gRPC cannot do for them: a stream that
// already delivered messages is never retried by gRPC itself.
type RetryPolicy struct {
	MaxAttempts       int
	InitialBackoff    time.Duration
	MaxBackoff        time.Duration
	BackoffMultiplier float64
	RetryableCodes    []codes.Code
}

// Retryable reports whether the policy retries code.
func (p RetryPolicy) Retryable(code codes.Code) bool {
	for _, c := range p.RetryableCodes {
		if c == code {
			return true
		}
	}
	return false
}

// Backoff is the wait before attempt number n (from 0) following a failure, before
// jitter: InitialBackoff * BackoffMultiplier^n, at most MaxBackoff.
func (p RetryPolicy) Backoff(n int) time.Duration {
	bound := float64(p.InitialBackoff)
	for i := 0; i < n && bound < float64(p.MaxBackoff); i++ {
		bound *= p.BackoffMultiplier
	}
	return time.Duration(min(bound, float64(p.MaxBackoff)))
}

type rawRetryPolicy struct {
	MaxAttempts          int          `json:"maxAttempts"`
	InitialBackoff       string       `json:"initialBackoff"`
	MaxBackoff           string       `json:"maxBackoff"`
	BackoffMultiplier    float64      `json:"backoffMultiplier"`
	RetryableStatusCodes []codes.Code `json:"retryableStatusCodes"`
}

type serviceConfig struct {
	MethodConfig []struct {
		Name []struct {
			Service string `json:"service"`
			Method  string `json:"method"`
		} `json:"name"`
		RetryPolicy *rawRetryPolicy `json:"retryPolicy"`
	} `json:"methodConfig"`
}

// RetryPolicyFor returns the retry policy the service config gives method (a method name
// of ExecutionService such as "WatchExecution"), or an error naming the method when it
// has none.
func RetryPolicyFor(method string) (RetryPolicy, error) {
	var config serviceConfig
	if err := json.Unmarshal([]byte(serviceConfigJSON), &config); err != nil {
		return RetryPolicy{}, fmt.Errorf("execstream: service config: %w", err)
	}
	for _, entry := range config.MethodConfig {
		for _, name := range entry.Name {
			if name.Service != ServiceName || (name.Method != "" && name.Method != method) {
				continue
			}
			if entry.RetryPolicy == nil {
				return RetryPolicy{}, fmt.Errorf("execstream: service config: %s has no retryPolicy", method)
			}
			return parseRetryPolicy(*entry.RetryPolicy)
		}
	}
	return RetryPolicy{}, fmt.Errorf("execstream: service config: no methodConfig names %s", method)
}

func parseRetryPolicy(raw rawRetryPolicy) (RetryPolicy, error) {
	initial, err := parseDuration(raw.InitialBackoff)
	if err != nil {
		return RetryPolicy{}, err
	}
	maximum, err := parseDuration(raw.MaxBackoff)
	if err != nil {
		return RetryPolicy{}, err
	}
	return RetryPolicy{
		MaxAttempts:       raw.MaxAttempts,
		InitialBackoff:    initial,
		MaxBackoff:        maximum,
		BackoffMultiplier: raw.BackoffMultiplier,
		RetryableCodes:    raw.RetryableStatusCodes,
	}, nil
}

// parseDuration reads a protobuf JSON duration ("1s", "0.25s"): seconds with an "s".
func parseDuration(text string) (time.Duration, error) {
	if !strings.HasSuffix(text, "s") {
		return 0, fmt.Errorf("execstream: service config: duration %q does not end in s", text)
	}
	return time.ParseDuration(text)
}

// mustRetryPolicy is RetryPolicyFor for the methods the embedded config is known to cover;
// a test checks it does.
func mustRetryPolicy(method string) RetryPolicy {
	policy, err := RetryPolicyFor(method)
	if err != nil {
		panic(err)
	}
	return policy
}
