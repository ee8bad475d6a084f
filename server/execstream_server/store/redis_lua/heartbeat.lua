-- A replica says it is alive and which revision it still needs, and learns the log bounds.
--
-- KEYS: 1 revision counter, 2 checkpoint revision, 3 compacted_through, 4 replicas,
--       5 replicas_seen
-- ARGV: replica_id, cursor
-- Reply: {revision, checkpoint_revision, compacted_through}
local now = redis.call('TIME')
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[5], string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)),
  ARGV[1])
return {
  tonumber(redis.call('GET', KEYS[1]) or '0'),
  tonumber(redis.call('GET', KEYS[2]) or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'),
}
