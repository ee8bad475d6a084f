package main

import (
	"context"
	"errors"
	"sync"

	"github.com/execstream/execstream/clients/go/execstream"
)

// backgroundWatch consumes a watch in its own goroutine and keeps what it delivered.
type backgroundWatch struct {
	watch *execstream.Watch
	done  chan struct{}

	mu      sync.Mutex
	events  []any
	grew    chan struct{} // closed and replaced on every event
	failure error
}

func startBackground(watch *execstream.Watch) *backgroundWatch {
	b := &backgroundWatch{watch: watch, done: make(chan struct{}), grew: make(chan struct{}), events: []any{}}
	go b.consume()
	return b
}

func (b *backgroundWatch) consume() {
	defer close(b.done)
	for {
		event, err := b.watch.Next()
		b.mu.Lock()
		if err != nil {
			b.failure = err
			b.mu.Unlock()
			return
		}
		b.events = append(b.events, message(event))
		close(b.grew)
		b.grew = make(chan struct{})
		b.mu.Unlock()
	}
}

// waitFor returns once count events were delivered, or with the watch's own error.
func (b *backgroundWatch) waitFor(ctx context.Context, count int) error {
	for {
		b.mu.Lock()
		have, grew, failure := len(b.events), b.grew, b.failure
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
			return errors.Join(ctx.Err(), errors.New("the watch delivered too few events"))
		}
	}
}

// stop ends the watch and returns every event it delivered.
func (b *backgroundWatch) stop() []any {
	b.watch.Close()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events
}
