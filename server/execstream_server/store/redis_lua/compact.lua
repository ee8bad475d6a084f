-- Trim the log stream, never past the checkpoint nor past any live replica's cursor.
--
-- The bound is the smallest of: the checkpoint revision; the last revision minus
-- max_events; the newest revision committed before cutoff_ms (a binary search on the
-- entries' "ms" field, which grows with the revision); the cursor every live replica
-- registered (replicas not seen for replica_ttl_ms are forgotten first); and
-- compacted_through + max_chunk, so one call never blocks Redis for long. The calling
-- replica registers its own cursor first, so its bound is current.
--
-- KEYS: 1 revision counter, 2 log stream, 3 checkpoint revision, 4 compacted_through,
--       5 replicas (hash replica_id -> cursor), 6 replicas_seen (zset replica_id -> ms)
-- ARGV: max_events (-1: no count bound), cutoff_ms (-1: no age bound), replica_ttl_ms,
--       max_chunk, replica_id, cursor
-- Reply: {events made unreadable, compacted_through}
local counter, stream, checkpoint, compacted_key, replicas, seen =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local max_events, cutoff_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl_ms, max_chunk = tonumber(ARGV[3]), tonumber(ARGV[4])

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', replicas, ARGV[5], ARGV[6])
redis.call('ZADD', seen, string.format('%d', now_ms), ARGV[5])
for _, replica in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf',
    '(' .. string.format('%d', now_ms - ttl_ms))) do
  redis.call('HDEL', replicas, replica)
  redis.call('ZREM', seen, replica)
end

local compacted = tonumber(redis.call('GET', compacted_key) or '0')
local last = tonumber(redis.call('GET', counter) or '0')
local bound = math.min(tonumber(redis.call('GET', checkpoint) or '0'), compacted + max_chunk)
if max_events >= 0 then
  bound = math.min(bound, last - max_events)
end
for _, cursor in ipairs(redis.call('HVALS', replicas)) do
  bound = math.min(bound, tonumber(cursor))
end

-- The commit time of the frame holding ``revision`` (entry ids are frames' last revisions).
local function committed_ms(revision)
  local fields = redis.call('XRANGE', stream, string.format('%d-0', revision), '+', 'COUNT', 1)[1][2]
  for f = 1, #fields, 2 do
    if fields[f] == 'ms' then
      return tonumber(fields[f + 1])
    end
  end
  return 0
end

if cutoff_ms >= 0 and bound > compacted then
  local low, high = compacted, bound
  while low < high do
    local mid = math.floor((low + high + 1) / 2)
    if committed_ms(mid) < cutoff_ms then
      low = mid
    else
      high = mid - 1
    end
  end
  bound = low
end

if bound <= compacted then
  return {0, compacted}
end
-- Whole frames only: one reaching past the bound stays, and is read from after it.
redis.call('XTRIM', stream, 'MINID', string.format('%d-0', bound + 1))
redis.call('SET', compacted_key, string.format('%d', bound))
return {bound - compacted, bound}
