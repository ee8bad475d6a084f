package execstream

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

func statusError(t *testing.T, code codes.Code, details ...any) error {
	t.Helper()
	st := status.New(code, "refused")
	for _, detail := range details {
		var err error
		switch detail := detail.(type) {
		case *errdetails.ErrorInfo:
			st, err = st.WithDetails(detail)
		case *errdetails.BadRequest:
			st, err = st.WithDetails(detail)
		case *errdetails.RetryInfo:
			st, err = st.WithDetails(detail)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestDecodeErrorReadsReasonAndMetadata(t *testing.T) {
	err := statusError(t, codes.FailedPrecondition, &errdetails.ErrorInfo{
		Domain: Domain, Reason: "SEQ_GAP", Metadata: map[string]string{"task_id": "t", "expected_seq": "4"},
	})
	decoded := DecodeError(fmt.Errorf("wrapped: %w", err))
	if decoded.Reason != execstreamv1.ErrorReason_SEQ_GAP || decoded.Code != codes.FailedPrecondition {
		t.Fatalf("decoded %+v", decoded)
	}
	if seq, ok := decoded.Uint("expected_seq"); !ok || seq != 4 {
		t.Fatalf("expected_seq = %d, %v", seq, ok)
	}
	if status.Code(decoded) != codes.FailedPrecondition {
		t.Fatal("status.Code does not see through *Error")
	}
}

func TestErrorsIsMatchesByReason(t *testing.T) {
	err := DecodeError(statusError(t, codes.AlreadyExists, &errdetails.ErrorInfo{Domain: Domain, Reason: "SEQ_CONFLICT"}))
	if !errors.Is(fmt.Errorf("flush: %w", err), &Error{Reason: execstreamv1.ErrorReason_SEQ_CONFLICT}) {
		t.Fatal("errors.Is missed SEQ_CONFLICT")
	}
	if errors.Is(err, &Error{Reason: execstreamv1.ErrorReason_SEQ_GAP}) {
		t.Fatal("errors.Is matched another reason")
	}
}

func TestUnknownReasonKeepsItsName(t *testing.T) {
	err := statusError(t, codes.Internal, &errdetails.ErrorInfo{Domain: Domain, Reason: "FROM_A_NEWER_SERVER"})
	decoded := DecodeError(err)
	if decoded.Reason != execstreamv1.ErrorReason_ERROR_REASON_UNSPECIFIED || decoded.ReasonName != "FROM_A_NEWER_SERVER" {
		t.Fatalf("decoded %+v", decoded)
	}
}

func TestErrorInfoOfAnotherDomainIsNotAReason(t *testing.T) {
	err := statusError(t, codes.Unavailable, &errdetails.ErrorInfo{Domain: "googleapis.com", Reason: "SEQ_GAP"})
	if decoded := DecodeError(err); decoded.ReasonName != "" {
		t.Fatalf("took a foreign reason: %+v", decoded)
	}
}

func TestTheFirstExecstreamErrorInfoGivesTheReason(t *testing.T) {
	err := statusError(t, codes.FailedPrecondition,
		&errdetails.ErrorInfo{Domain: "proxy.example.com", Reason: "UPSTREAM_RESET"},
		&errdetails.ErrorInfo{Domain: Domain, Reason: "SEQ_GAP", Metadata: map[string]string{"task_id": "t"}},
		&errdetails.ErrorInfo{Domain: Domain, Reason: "TASK_FINISHED", Metadata: map[string]string{"last_seq": "9"}})
	decoded := DecodeError(err)
	if decoded.ReasonName != "SEQ_GAP" || decoded.Domain != Domain || len(decoded.Metadata) != 1 || decoded.Metadata["task_id"] != "t" {
		t.Fatalf("decoded %+v, want the first execstream.v1 ErrorInfo alone", decoded)
	}
}

func TestBadRequestAndRetryInfoAreDecoded(t *testing.T) {
	err := statusError(t, codes.ResourceExhausted,
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "events[0].seq"}}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)})
	decoded := DecodeError(err)
	if len(decoded.Violations) != 1 || decoded.Violations[0].GetField() != "events[0].seq" || decoded.RetryDelay != 1500*time.Millisecond {
		t.Fatalf("decoded %+v", decoded)
	}
}

func TestNonStatusErrorsAreNotDecoded(t *testing.T) {
	if DecodeError(nil) != nil || DecodeError(errors.New("plain")) != nil {
		t.Fatal("decoded something that is not a status")
	}
}
