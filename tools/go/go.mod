// The protoc plugins that generate clients/go/gen, pinned here so that every machine
// generates byte-identical code. scripts/dev-setup installs them into tools/go/bin with
// `go install tool`; scripts/gen_go runs them through buf.
module github.com/execstream/execstream/tools/go

go 1.25.0

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
