package execstream

import (
	"google.golang.org/grpc/codes"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// What to do after a failed call: the retry rules every execstream client implements alike
// (docs/writing-a-client.md, "Retrying"). The codes and backoff come from the shared
// service config; these rules depend on the ErrorInfo reason, which a service config
// cannot express:
//
//   - a code the config lists for the method (UNAVAILABLE): try again after a backoff;
//   - RESOURCE_EXHAUSTED with reason RATE_LIMITED or LIMIT_EXCEEDED: try again after a
//     backoff, waiting at least the RetryInfo delay;
//   - RESOURCE_EXHAUSTED with reason WATCHER_TOO_SLOW: resume the watch at once from its
//     resume_revision;
//   - RESOURCE_EXHAUSTED without a reason (gRPC's own "message too large"): never again;
//   - OUT_OF_RANGE on a watch: re-list (a snapshot), never a blind retry;
//   - CANCELLED: the helpers never decide about a call they cancelled themselves (they
//     check their context first), so this is a stream reset under them: as UNAVAILABLE;
//   - anything else: stop and return the error.
type action int

const (
	actionStop   action = iota // return the error: trying again cannot help
	actionRetry                // after a backoff of at least decision.wait
	actionResume               // a watch: reconnect now, from decision.resumeRevision
	actionRelist               // a watch: the resume point is gone
)

type decision struct {
	action         action
	atLeast        bool // the RetryInfo delay is a floor for the wait
	resumeRevision uint64
}

func decide(policy RetryPolicy, method string, refusal *Error) decision {
	if policy.Retryable(refusal.Code) || refusal.Code == codes.Canceled {
		return decision{action: actionRetry}
	}
	switch refusal.Code {
	case codes.ResourceExhausted:
		switch refusal.Reason {
		case execstreamv1.ErrorReason_RATE_LIMITED, execstreamv1.ErrorReason_LIMIT_EXCEEDED:
			return decision{action: actionRetry, atLeast: true}
		case execstreamv1.ErrorReason_WATCHER_TOO_SLOW:
			if resume, ok := refusal.Uint("resume_revision"); ok {
				return decision{action: actionResume, resumeRevision: resume}
			}
		}
	case codes.OutOfRange:
		if method == "WatchExecution" {
			return decision{action: actionRelist}
		}
	}
	return decision{action: actionStop}
}
