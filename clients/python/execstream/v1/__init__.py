"""Generated protobuf and gRPC code for ``execstream.v1`` (see scripts/gen_protos; do not edit)."""
