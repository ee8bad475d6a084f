-- Commit one group of admitted reports, atomically, or report why not.
--
-- Admission ran in Python against cached gates; this script checks that every task the
-- group touched still has the last_seq admission assumed (a compare-and-set on the gate),
-- then assigns gap-free revisions and appends one log stream entry per report frame, with
-- entry id "<last revision>-0": the frame is the report's ready-to-send watch response,
-- each event's entry with its revision appended (the last occurrence of a scalar field
-- wins). Every check comes before the first write: a refused group writes nothing.
--
-- It also adds each task's revision span to its task index (a zset: member
-- "<first revision>:<first seq>", score = last revision), which filtered replays and the
-- comparison of resent seqs read, and records finished tasks by revision, so compaction can
-- drop their indexes later. Each index it adds to loses its entries at or below the
-- compaction bound, so the index of a task that runs on (or never finishes) stays as long
-- as its retained log, not its whole history.
--
-- KEYS: 1 revision counter, 2 log stream, 3 gate_seqs (hash task_id -> last_seq),
--       4 gates (hash task_id -> serialized gate), 5 finished (zset task_id -> revision),
--       6 compacted_through, 7.. the task index of each task chunk (n_chunks of them)
-- ARGV: known_revision, replica_id (marks the entries this replica wrote),
--       n_checks, (task_id, expected_last_seq) * n_checks,
--       n_gates, (task_id, last_seq, gate) * n_gates,
--       n_frames, (sidecar_id, keys, n_events, payload * n_events) * n_frames,
--       n_chunks, (first_index, last_index, first_seq) * n_chunks,
--       n_finished, (task_id, index) * n_finished
--       (an index counts the group's events from 0: its revision is the first one + index)
-- Reply: {'OK', first_revision, last_revision, committed_ms}  (first > last when nothing
--        was appended; committed_ms: Redis's clock, stored with each entry as 'ms')
--        {'CONFLICT', task_id, gate_or_empty, ...}  the current gates of the stale tasks
--        {'LOST', revision}  Redis holds fewer revisions than this replica already saw
local counter, stream, gate_seqs, gates, finished = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- Protobuf base-128 varint; exact below 2^53.
local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

local function int(n)
  return string.format('%d', n)
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
local n_frames = tonumber(take())
if n_frames == 0 then
  return {'OK', revision + 1, revision, 0}
end

local now = redis.call('TIME')
local committed_ms = int(tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local first = revision + 1
for _ = 1, n_frames do
  local sidecar_id, keys, n_events = take(), take(), tonumber(take())
  local frame_first = revision + 1
  local parts = {}
  for _ = 1, n_events do
    revision = revision + 1
    local payload = take()
    local rv = varint(revision)
    parts[#parts + 1] = '\10' .. varint(#payload + 1 + #rv) .. payload .. '\32' .. rv
  end
  redis.call('XADD', stream, int(revision) .. '-0', 'first', int(frame_first),
    'sidecar_id', sidecar_id, 'keys', keys, 'ms', committed_ms, 'replica', replica_id,
    'frame', table.concat(parts))
end
local compacted = redis.call('GET', KEYS[6]) or '0'
for c = 1, tonumber(take()) do
  local first_index, last_index, first_seq = tonumber(take()), tonumber(take()), take()
  redis.call('ZADD', KEYS[6 + c], int(first + last_index), int(first + first_index) .. ':' .. first_seq)
  redis.call('ZREMRANGEBYSCORE', KEYS[6 + c], '-inf', compacted)
end
for _ = 1, tonumber(take()) do
  local task_id, index = take(), tonumber(take())
  redis.call('ZADD', finished, int(first + index), task_id)
end
redis.call('SET', counter, int(revision))
for g = 0, n_gates - 1 do
  local at = gates_at + 3 * g
  redis.call('HSET', gate_seqs, ARGV[at], ARGV[at + 1])
  redis.call('HSET', gates, ARGV[at], ARGV[at + 2])
end
return {'OK', first, revision, tonumber(committed_ms)}
