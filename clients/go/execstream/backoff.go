package execstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultGiveUpAfter bounds how long the watch and the reporter keep reconnecting through
// consecutive failures (no message received in between) before they return the last error.
// A negative GiveUpAfter never gives up.
const DefaultGiveUpAfter = 60 * time.Second

// Jitter spreads each wait by +-20 %, as gRPC's connection backoff does, so that the
// clients of a restarted server do not all come back at once.
const Jitter = 0.2

// attempts paces reconnects after consecutive failures by a RetryPolicy's backoff (each
// wait +-Jitter), and gives up giveUpAfter after the first failure of a run.
type attempts struct {
	policy      RetryPolicy
	giveUpAfter time.Duration
	failures    int
	firstFailed time.Time
}

// newAttempts starts a run; giveUpAfter 0 means DefaultGiveUpAfter, negative never.
func newAttempts(policy RetryPolicy, giveUpAfter time.Duration) attempts {
	if giveUpAfter == 0 {
		giveUpAfter = DefaultGiveUpAfter
	}
	return attempts{policy: policy, giveUpAfter: giveUpAfter}
}

// reset is called on every sign of a healthy stream (a message received, a call answered).
func (a *attempts) reset() { a.failures = 0 }

// wait sleeps before the next attempt (at least atLeast, a wait the server asked for), or
// returns cause (wrapped) once the budget is spent and ctx's error if ctx ends first.
func (a *attempts) wait(ctx context.Context, cause error, atLeast time.Duration) error {
	now := time.Now()
	if a.failures == 0 {
		a.firstFailed = now
	}
	spent := now.Sub(a.firstFailed)
	if a.giveUpAfter >= 0 && spent >= a.giveUpAfter {
		return fmt.Errorf("execstream: gave up after %s of failures: %w", a.giveUpAfter, cause)
	}
	jitter := 1 - Jitter + 2*Jitter*rand.Float64()
	delay := max(time.Duration(float64(a.policy.Backoff(a.failures))*jitter), atLeast)
	if a.giveUpAfter >= 0 {
		delay = min(delay, a.giveUpAfter-spent)
	}
	a.failures++
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
