package execstream

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

func decided(t *testing.T, method string, code codes.Code, reason string, metadata map[string]string) decision {
	t.Helper()
	var details []any
	if reason != "" {
		details = append(details, &errdetails.ErrorInfo{Domain: Domain, Reason: reason, Metadata: metadata})
	}
	policy, err := RetryPolicyFor(method)
	if err != nil {
		t.Fatal(err)
	}
	return decide(policy, method, DecodeError(statusError(t, code, details...)))
}

func TestTheRetryRules(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		code    codes.Code
		reason  string
		want    action
		atLeast bool
	}{
		{"unavailable is retried", "ReportProgress", codes.Unavailable, "STORE_UNAVAILABLE", actionRetry, false},
		{"a reset stream is retried", "WatchExecution", codes.Canceled, "", actionRetry, false},
		{"a rate limit waits its delay", "ReportProgress", codes.ResourceExhausted, "RATE_LIMITED", actionRetry, true},
		{"a count limit waits too", "WatchExecution", codes.ResourceExhausted, "LIMIT_EXCEEDED", actionRetry, true},
		{"a message too large is final", "ReportProgress", codes.ResourceExhausted, "", actionStop, false},
		{"out of range re-lists a watch", "WatchExecution", codes.OutOfRange, "REVISION_COMPACTED", actionRelist, false},
		{"a deadline is the caller's", "GetSnapshot", codes.DeadlineExceeded, "", actionStop, false},
		{"a bug is not hidden", "ReportProgress", codes.Internal, "INTERNAL_ERROR", actionStop, false},
		{"a bad request is final", "ReportProgress", codes.FailedPrecondition, "SEQ_GAP", actionStop, false},
	}
	for _, c := range cases {
		got := decided(t, c.method, c.code, c.reason, nil)
		if got.action != c.want || got.atLeast != c.atLeast {
			t.Errorf("%s: got %+v, want action %d at-least %v", c.name, got, c.want, c.atLeast)
		}
	}
	slow := decided(t, "WatchExecution", codes.ResourceExhausted, "WATCHER_TOO_SLOW", map[string]string{"resume_revision": "41"})
	if slow.action != actionResume || slow.resumeRevision != 41 {
		t.Errorf("WATCHER_TOO_SLOW: got %+v, want a resume from 41", slow)
	}
}
