package main

import (
	"context"
	"errors"
	"sync"

	"github.com/execstream/execstream/clients/go/execstream"
	execstreamv1 "github.com/execstream/execstream/clients/go/gen/execstream/v1"
)

// backgroundWatch consumes a watch in its own goroutine and keeps what it delivered.
//
// With relists, a watch that cannot resume (the client's *ResyncRequired: another log, a
// compacted or future resume point) is continued as the Go client documents it: a
// snapshot through the client, kept, then a new watch from its revision on its log.
type backgroundWatch struct {
	client  execstreamv1.ExecutionServiceClient
	relists bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	mu        sync.Mutex
	watch     *execstream.Watch
	events    []any
	snapshots []any
	grew      chan struct{} // closed and replaced on every event or re-list
	failure   error
}

// startBackground opens the watch and returns once it knows its start point.
func startBackground(client execstreamv1.ExecutionServiceClient, after *uint64, relists bool) (*backgroundWatch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &backgroundWatch{
		client: client, relists: relists, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		grew: make(chan struct{}), events: []any{}, snapshots: []any{},
	}
	b.watch = execstream.NewWatch(ctx, client, execstream.WatchOptions{AfterRevision: after})
	if _, err := b.watch.Start(); err != nil { // the start point is known before the next step
		cancel()
		return nil, err
	}
	go b.consume()
	return b, nil
}

func (b *backgroundWatch) consume() {
	defer close(b.done)
	for {
		event, err := b.watch.Next()
		var resync *execstream.ResyncRequired
		if err != nil && b.relists && errors.As(err, &resync) && b.ctx.Err() == nil {
			err = b.relist()
			if err == nil {
				continue
			}
		}
		b.mu.Lock()
		if err != nil {
			b.failure = err
			b.mu.Unlock()
			return
		}
		b.events = append(b.events, message(event))
		b.grewLocked()
		b.mu.Unlock()
	}
}

// relist takes a snapshot and continues with a watch from its revision, on its log.
func (b *backgroundWatch) relist() error {
	snapshot, err := execstream.Snapshot(b.ctx, b.client, &execstreamv1.GetSnapshotRequest{})
	if err != nil {
		return err
	}
	revision := snapshot.GetRevision()
	b.watch.Close()
	b.watch = execstream.NewWatch(b.ctx, b.client, execstream.WatchOptions{
		AfterRevision: &revision, LogID: snapshot.GetLogId(),
	})
	b.mu.Lock()
	b.snapshots = append(b.snapshots, message(snapshot))
	b.grewLocked()
	b.mu.Unlock()
	return nil
}

func (b *backgroundWatch) grewLocked() {
	close(b.grew)
	b.grew = make(chan struct{})
}

// waitFor returns once count events (or, with relists, count re-lists) were delivered,
// or with the watch's own error.
func (b *backgroundWatch) waitFor(ctx context.Context, count int, relists bool) error {
	for {
		b.mu.Lock()
		have, grew, failure := len(b.events), b.grew, b.failure
		if relists {
			have = len(b.snapshots)
		}
		b.mu.Unlock()
		if have >= count {
			return nil
		}
		if failure != nil {
			return failure
		}
		select {
		case <-grew:
		case <-b.done:
		case <-ctx.Done():
			return errors.Join(ctx.Err(), errors.New("the watch fell short of the count"))
		}
	}
}

// stop ends the watch and returns every event it delivered.
func (b *backgroundWatch) stop() []any {
	b.cancel()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events
}

// relisted is every snapshot the watch re-listed with.
func (b *backgroundWatch) relisted() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshots
}
