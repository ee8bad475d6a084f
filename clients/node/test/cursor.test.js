// The pure parts: the watch cursor and the backoff policy, without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Attempts } from '../src/backoff.js';
import { Watch } from '../src/watch.js';

const at = (...revisions) => ({ events: revisions.map((revision) => ({ revision })) });

test('the cursor skips events at or below it and advances to the last one delivered', () => {
  const watch = new Watch(null, { afterRevision: 4 });
  assert.deepEqual(watch.accept(at(3, 4, 5, 6)).map((e) => e.revision), [5, 6]);
  assert.equal(watch.revision, 6);
  assert.deepEqual(watch.request().afterRevision, 6);
});

test('a heartbeat moves the cursor so a resume skips what the filter left out', () => {
  const watch = new Watch(null, { taskIds: ['a'], afterRevision: 0 });
  assert.deepEqual(watch.accept({ events: [], progress: { revision: 40 } }), []);
  assert.equal(watch.revision, 40);
  assert.deepEqual(watch.request(), { taskIds: ['a'], sidecarIds: [], kinds: [], afterRevision: 40 });
});

test('a live watch asks for no revision until it has seen one', () => {
  const watch = new Watch(null, {});
  assert.equal('afterRevision' in watch.request(), false);
  watch.accept(at(9));
  assert.equal(watch.request().afterRevision, 9);
});

test('backoff delays grow, stay under the cap, and reset after a success', () => {
  const attempts = new Attempts({ initialMs: 100, maximumMs: 1000, giveUpAfterMs: null });
  const delays = Array.from({ length: 8 }, () => attempts.nextDelayMs());
  assert.ok(delays[0] >= 50 && delays[0] <= 100);
  assert.ok(delays.every((delay) => delay <= 1000));
  assert.ok(delays[7] >= 500, 'reaches the cap');
  attempts.reset();
  assert.ok(attempts.nextDelayMs() <= 100);
});

test('backoff gives up once the budget is spent', () => {
  const attempts = new Attempts({ giveUpAfterMs: 0 });
  assert.equal(attempts.nextDelayMs(), null);
});
