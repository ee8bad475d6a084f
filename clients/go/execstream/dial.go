package execstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultTarget is the server address when neither Options nor EXECSTREAM_TARGET name one.
const DefaultTarget = "127.0.0.1:50051"

// Options say how to reach a server. The zero value is plaintext, no token, DefaultTarget.
type Options struct {
	Target string // host:port; empty means DefaultTarget
	Token  string // bearer token, sent as "authorization: Bearer <token>" on every call
	// TLS, when set, encrypts the connection (with a client certificate for mTLS).
	TLS *tls.Config
}

// OptionsFromEnv reads the environment every execstream client reads: EXECSTREAM_TARGET,
// EXECSTREAM_TOKEN, EXECSTREAM_CA (a PEM CA bundle), EXECSTREAM_CERT and EXECSTREAM_KEY
// (a client certificate for mTLS) and EXECSTREAM_TLS=1 (TLS with the system's roots).
func OptionsFromEnv() (Options, error) {
	options := Options{Target: os.Getenv("EXECSTREAM_TARGET"), Token: os.Getenv("EXECSTREAM_TOKEN")}
	ca, cert, key := os.Getenv("EXECSTREAM_CA"), os.Getenv("EXECSTREAM_CERT"), os.Getenv("EXECSTREAM_KEY")
	if ca == "" && cert == "" && os.Getenv("EXECSTREAM_TLS") != "1" {
		return options, nil
	}
	options.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return Options{}, fmt.Errorf("execstream: EXECSTREAM_CA: %w", err)
		}
		options.TLS.RootCAs = x509.NewCertPool()
		if !options.TLS.RootCAs.AppendCertsFromPEM(pem) {
			return Options{}, fmt.Errorf("execstream: EXECSTREAM_CA: no PEM certificate in %s", ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return Options{}, fmt.Errorf("execstream: EXECSTREAM_CERT/EXECSTREAM_KEY: %w", err)
		}
		options.TLS.Certificates = []tls.Certificate{pair}
	}
	return options, nil
}

// Dial creates a connection (lazily connected, as grpc.NewClient does) with the shared
// service config as its default (each method's deadline) and gRPC's own retries off: the
// helpers retry by the same table in their own loops (Snapshot's pages, Watch, Reporter),
// as every execstream client does, so a call is never retried twice over and Report is one
// call. extra options are appended (e.g. grpc.WithUserAgent).
func Dial(options Options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	target := options.Target
	if target == "" {
		target = DefaultTarget
	}
	transport := insecure.NewCredentials()
	if options.TLS != nil {
		transport = credentials.NewTLS(options.TLS)
	}
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultServiceConfig(ServiceConfigJSON()),
		grpc.WithDisableRetry(),
	}
	if options.Token != "" {
		dialOptions = append(dialOptions, grpc.WithPerRPCCredentials(bearer{token: options.Token, secure: options.TLS != nil}))
	}
	conn, err := grpc.NewClient(target, append(dialOptions, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("execstream: dial %s: %w", target, err)
	}
	return conn, nil
}

// bearer sends the token in the metadata key the server reads ("authorization", lower
// case as HTTP/2 requires). Plaintext is allowed for loopback and trusted networks; the
// server refuses a non-loopback listener without TLS unless told otherwise.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
