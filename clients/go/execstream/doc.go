// Package execstream is a thin helper over the generated execstream.v1 gRPC client
// (package execstreamv1): a connection set up with the shared gRPC service config, a
// watch that resumes with no gap and no duplicate, a reporter that numbers each task's
// events and resends what a broken stream lost, and errors decoded from google.rpc.ErrorInfo.
//
// Everything else is the generated code: use execstreamv1.NewExecutionServiceClient(conn)
// directly for any call this package does not wrap. The contract itself (what each field
// and error reason means) is documented in protos/execstream/v1 and docs/api.md.
package execstream
