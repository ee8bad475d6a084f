package execstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultGiveUpAfter bounds how long the watch and the reporter keep reconnecting through
// consecutive failures (no message received in between) before they return the last error.
const DefaultGiveUpAfter = 60 * time.Second

// attempts paces reconnects after consecutive failures by a RetryPolicy's backoff, with the
// full jitter gRPC uses, and gives up giveUpAfter after the first failure of a run.
type attempts struct {
	policy      RetryPolicy
	giveUpAfter time.Duration
	failures    int
	firstFailed time.Time
}

// reset is called on every sign of a healthy stream (a message received, a call answered).
func (a *attempts) reset() { a.failures = 0 }

// wait sleeps before the next attempt, or returns cause (wrapped) once the budget is spent
// and ctx's error if ctx ends first.
func (a *attempts) wait(ctx context.Context, cause error) error {
	now := time.Now()
	if a.failures == 0 {
		a.firstFailed = now
	}
	if now.Sub(a.firstFailed) >= a.giveUpAfter {
		return fmt.Errorf("execstream: gave up after %s of failures: %w", a.giveUpAfter, cause)
	}
	bound := a.policy.Backoff(a.failures)
	a.failures++
	delay := time.Duration(rand.Int64N(int64(bound) + 1))
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
