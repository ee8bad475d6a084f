package main

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/execstream/execstream/clients/go/execstream"
)

// message is m in canonical proto3 JSON (protojson's defaults), as a value to embed.
func message(m proto.Message) any {
	text, err := protojson.Marshal(m)
	if err != nil {
		panic(err) // generated messages always marshal
	}
	var value any
	if err := json.Unmarshal(text, &value); err != nil {
		panic(err)
	}
	return value
}

// errorJSON is the protocol's ERROR: the typed error's code, ErrorInfo and BadRequest,
// and for a refused report what is committed.
func errorJSON(refused *execstream.Error) map[string]any {
	violations := make([]map[string]string, 0, len(refused.Violations))
	for _, violation := range refused.Violations {
		violations = append(violations, map[string]string{
			"field": violation.GetField(), "description": violation.GetDescription(),
		})
	}
	outcome := map[string]any{
		"code":            refused.CodeName(),
		"reason":          refused.ReasonName,
		"domain":          refused.Domain,
		"metadata":        refused.Metadata,
		"fieldViolations": violations,
	}
	if refused.Committed != nil {
		outcome["committed"] = message(refused.Committed)
	}
	return outcome
}
