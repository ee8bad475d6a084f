// Package testserver runs a real `execstream serve` for the Go client's tests: a child
// process on a free loopback port with its own SQLite file, which a test can kill -9 and
// restart on the same port and store.
//
// The server is the Python package: EXECSTREAM_PYTHON names the interpreter that has it
// installed (default: python3, as scripts/dev-setup installs it).
package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// Server is one `execstream serve` child process.
type Server struct {
	t       testing.TB
	port    int
	dir     string
	extra   []string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	// generation numbers the store file, so RestartOnNewStore gets an empty one.
	generation int
}

// Start runs a server with extra flags (e.g. "--heartbeat-interval", "1s") and stops it
// when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := &Server{t: t, port: freePort(t), dir: t.TempDir(), extra: extra}
	s.logPath = filepath.Join(s.dir, "server.log")
	s.launch()
	t.Cleanup(s.Kill)
	return s
}

// Address is host:port.
func (s *Server) Address() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Client dials the server with the shared service config; the connection closes when
// the test ends.
func (s *Server) Client(options ...execstream.Options) execstreamv1.ExecutionServiceClient {
	return execstreamv1.NewExecutionServiceClient(s.Conn(options...))
}

// Conn is Client's connection.
func (s *Server) Conn(options ...execstream.Options) *grpc.ClientConn {
	s.t.Helper()
	option := execstream.Options{}
	if len(options) > 0 {
		option = options[0]
	}
	option.Target = s.Address()
	conn, err := execstream.Dial(option)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Kill sends SIGKILL and waits for the process to go: a crash, not a shutdown.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.launch()
}

// RestartOnNewStore kills the server and starts it on a new, empty store: a log with
// another identity, as after a reset or a replaced volume.
func (s *Server) RestartOnNewStore() {
	s.t.Helper()
	s.Kill()
	s.generation++
	s.launch()
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	text, _ := os.ReadFile(s.logPath)
	return string(text)
}

func (s *Server) launch() {
	s.t.Helper()
	python := os.Getenv("EXECSTREAM_PYTHON")
	if python == "" {
		python = "python3"
	}
	args := []string{"-m", "execstream", "serve", "--port", strconv.Itoa(s.port),
		"--db", filepath.Join(s.dir, fmt.Sprintf("execstream-%d.db", s.generation)), "--metrics-port", "0",
		"--http-port", "0"}
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(python, append(args, s.extra...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s -m execstream serve (set EXECSTREAM_PYTHON to the interpreter with execstream installed): %v", python, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	s.waitListening(60 * time.Second)
}

func (s *Server) waitListening(timeout time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case <-s.exited:
			s.t.Fatalf("execstream serve exited before listening: %s", lastLine(s.Log()))
		default:
		}
		conn, err := net.DialTimeout("tcp", s.Address(), time.Second)
		if err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("nothing listened on %s within %s: %s", s.Address(), timeout, lastLine(s.Log()))
}

func lastLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return lines[len(lines)-1]
}

func freePort(t testing.TB) int {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("no free port: %w", err))
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}
