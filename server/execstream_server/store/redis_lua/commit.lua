-- Commit one group of admitted reports, atomically, or report why not.
--
-- Admission ran in Python against cached gates; this script checks that every task the
-- group touched still has the last_seq admission assumed (a compare-and-set on the gate),
-- then assigns gap-free revisions, appends the events to the log stream with entry id
-- "<revision>-0" and the revision patched into the payload, and stores the new gates.
-- Every check comes before the first write: a refused group writes nothing.
--
-- It also writes each task's content digests (8 bytes per seq) at their seq's offset and
-- records finished tasks by revision, so compaction can drop their digests later.
--
-- KEYS: 1 revision counter, 2 log stream, 3 gate_seqs (hash task_id -> last_seq),
--       4 gates (hash task_id -> serialized gate), 5 finished (zset task_id -> revision),
--       6.. one digest string per task with accepted events (n_chunks of them)
-- ARGV: known_revision, replica_id (marks the entries this replica wrote),
--       n_checks, (task_id, expected_last_seq) * n_checks,
--       n_gates, (task_id, last_seq, gate) * n_gates,
--       n_events, (task_id, sidecar_id, kind, payload) * n_events,
--       n_chunks, (byte_offset, digests) * n_chunks
-- Reply: {'OK', first_revision, last_revision}  (first > last when nothing was appended)
--        {'CONFLICT', task_id, gate_or_empty, ...}  the current gates of the stale tasks
--        {'LOST', revision}  Redis holds fewer revisions than this replica already saw
local counter, stream, gate_seqs, gates, finished = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local FINISHED_KIND = '8'  -- EventKind.EVENT_KIND_FINISHED

-- Protobuf base-128 varint; exact for revisions below 2^53.
local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

local i = 1
local function take()
  local value = ARGV[i]
  i = i + 1
  return value
end

local known = tonumber(take())
local replica_id = take()
local revision = tonumber(redis.call('GET', counter) or '0')
if revision < known then
  return {'LOST', revision}
end

local conflicts = {'CONFLICT'}
for _ = 1, tonumber(take()) do
  local task_id, expected = take(), tonumber(take())
  local current = tonumber(redis.call('HGET', gate_seqs, task_id) or '0')
  if current ~= expected then
    conflicts[#conflicts + 1] = task_id
    conflicts[#conflicts + 1] = redis.call('HGET', gates, task_id) or ''
  end
end
if #conflicts > 1 then
  return conflicts
end

local n_gates = tonumber(take())
local gates_at = i
i = i + 3 * n_gates
local n_events = tonumber(take())
if n_events == 0 then
  return {'OK', revision + 1, revision}
end

local now = redis.call('TIME')
local committed_ms = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local first = revision + 1
for _ = 1, n_events do
  revision = revision + 1
  local task_id, sidecar_id, kind, payload = take(), take(), take(), take()
  -- ExecutionEvent.revision is field 4 (tag 0x20); the last occurrence of a scalar wins.
  redis.call('XADD', stream, string.format('%d-0', revision),
    'task_id', task_id, 'sidecar_id', sidecar_id, 'kind', kind, 'ms', committed_ms,
    'replica', replica_id,
    'payload', payload .. '\32' .. varint(revision))
  if kind == FINISHED_KIND then
    redis.call('ZADD', finished, string.format('%d', revision), task_id)
  end
end
for c = 1, tonumber(take()) do
  local offset, digests = tonumber(take()), take()
  redis.call('SETRANGE', KEYS[5 + c], offset, digests)
end
redis.call('SET', counter, string.format('%d', revision))
for g = 0, n_gates - 1 do
  local at = gates_at + 3 * g
  redis.call('HSET', gate_seqs, ARGV[at], ARGV[at + 1])
  redis.call('HSET', gates, ARGV[at], ARGV[at + 2])
end
return {'OK', first, revision}
