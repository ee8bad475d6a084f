package execstream

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Domain is the google.rpc.ErrorInfo domain of every error execstream sends.
const Domain = "execstream.v1"

// Error is a non-OK status from the server, with its google.rpc details decoded.
//
// Reason is the ErrorInfo reason as an ErrorReason value (ERROR_REASON_UNSPECIFIED when the
// status carried no execstream ErrorInfo, as with statuses gRPC itself produces: a dropped
// connection, a deadline). errors.As(err, &target) finds it inside wrapped errors, and
// status.Code(err) still gives the gRPC code.
type Error struct {
	Code       codes.Code
	Message    string
	Domain     string // the ErrorInfo domain: Domain, or "" when there was no ErrorInfo
	Reason     execstreamv1.ErrorReason
	ReasonName string            // the reason as sent, even one this client does not know
	Metadata   map[string]string // ErrorInfo metadata; the keys are listed in errors.proto
	Violations []*errdetails.BadRequest_FieldViolation
	RetryDelay time.Duration // from google.rpc.RetryInfo (rate limits); 0 when absent
	// Committed is what a refused ReportProgress stream got committed: per task it touched,
	// the store's last seq. nil when the status did not say (other calls, dropped streams).
	Committed *execstreamv1.ReportProgressResponse
	status    *status.Status
}

func (e *Error) Error() string {
	if e.ReasonName == "" {
		return fmt.Sprintf("execstream: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("execstream: %s (%s): %s", e.Code, e.ReasonName, e.Message)
}

// CodeName is the status code as gRPC names it everywhere ("FAILED_PRECONDITION"); Go's
// codes.Code.String() says "FailedPrecondition".
func (e *Error) CodeName() string { return rpccode.Code_name[int32(e.Code)] }

// GRPCStatus makes status.Code and status.FromError work on an *Error.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Is matches another *Error with the same Reason, so that
// errors.Is(err, &execstream.Error{Reason: execstreamv1.ErrorReason_SEQ_GAP}) works.
func (e *Error) Is(target error) bool {
	var other *Error
	if !errors.As(target, &other) || other.Reason == execstreamv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		return false
	}
	return other.Reason == e.Reason
}

// Uint reads a decimal metadata value such as "expected_seq"; ok is false when the key is
// missing or not a number.
func (e *Error) Uint(key string) (value uint64, ok bool) {
	text, found := e.Metadata[key]
	if !found {
		return 0, false
	}
	value, err := strconv.ParseUint(text, 10, 64)
	return value, err == nil
}

// DecodeError turns an error returned by a gRPC call into an *Error. It returns nil for nil
// and for errors that are not gRPC statuses (a cancelled context stays as it is).
func DecodeError(err error) *Error {
	if err == nil {
		return nil
	}
	var decoded *Error
	if errors.As(err, &decoded) {
		return decoded
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	decoded = &Error{Code: st.Code(), Message: st.Message(), Metadata: map[string]string{}, status: st}
	for _, detail := range st.Details() {
		switch detail := detail.(type) {
		case *errdetails.ErrorInfo:
			if detail.GetDomain() != Domain || decoded.ReasonName != "" {
				continue
			}
			decoded.Domain, decoded.ReasonName = detail.GetDomain(), detail.GetReason()
			decoded.Reason = execstreamv1.ErrorReason(execstreamv1.ErrorReason_value[detail.GetReason()])
			for key, value := range detail.GetMetadata() {
				decoded.Metadata[key] = value
			}
		case *errdetails.BadRequest:
			decoded.Violations = append(decoded.Violations, detail.GetFieldViolations()...)
		case *errdetails.RetryInfo:
			decoded.RetryDelay = detail.GetRetryDelay().AsDuration()
		case *execstreamv1.ReportProgressResponse:
			decoded.Committed = detail
		}
	}
	return decoded
}

// ResyncRequired means a watch cannot resume where it stood: the revision it would resume
// after was compacted away (REVISION_COMPACTED), does not exist in this log
// (REVISION_IN_FUTURE), or the log itself was replaced (its log_id changed). Re-list with
// GetSnapshot, then watch from the snapshot's revision.
type ResyncRequired struct {
	AfterRevision uint64 // the revision the watch tried to resume after
	OldLogID      string // the log the watch was following
	NewLogID      string // set when the log identity changed
	Cause         *Error // the server's refusal; nil when the log identity changed
}

func (e *ResyncRequired) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("execstream: the log changed (%s, was %s): re-list with GetSnapshot", e.NewLogID, e.OldLogID)
	}
	return fmt.Sprintf("execstream: cannot resume after revision %d: %s: re-list with GetSnapshot", e.AfterRevision, e.Cause.Message)
}

func (e *ResyncRequired) Unwrap() error {
	if e.Cause == nil {
		return nil
	}
	return e.Cause
}
