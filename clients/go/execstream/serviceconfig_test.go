package execstream

import (
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestEmbeddedServiceConfigIsTheProtosCopy(t *testing.T) {
	source, err := os.ReadFile("../../../protos/execstream/v1/service_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(source) != ServiceConfigJSON() {
		t.Fatal("service_config.json differs from protos/execstream/v1: run scripts/gen_go")
	}
}

func TestEveryMethodHasARetryPolicyThatRetriesUnavailable(t *testing.T) {
	for _, method := range []string{"ReportProgress", "WatchExecution", "GetSnapshot"} {
		policy, err := RetryPolicyFor(method)
		if err != nil {
			t.Fatal(err)
		}
		if !policy.Retryable(codes.Unavailable) || policy.Retryable(codes.InvalidArgument) {
			t.Errorf("%s retries %v", method, policy.RetryableCodes)
		}
		if policy.InitialBackoff <= 0 || policy.MaxBackoff < policy.InitialBackoff || policy.BackoffMultiplier < 1 {
			t.Errorf("%s backoff %+v", method, policy)
		}
	}
}

func TestUnknownMethodHasNoRetryPolicy(t *testing.T) {
	if _, err := RetryPolicyFor("NoSuchMethod"); err == nil {
		t.Fatal("a method the config does not name got a policy")
	}
}

func TestBackoffGrowsByTheMultiplierUpToTheMaximum(t *testing.T) {
	policy := RetryPolicy{InitialBackoff: time.Second, MaxBackoff: 3 * time.Second, BackoffMultiplier: 2}
	got := []time.Duration{policy.Backoff(0), policy.Backoff(1), policy.Backoff(2), policy.Backoff(30)}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Backoff(n) = %v, want %v", got, want)
		}
	}
}
