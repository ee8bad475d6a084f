-- Read what a replica recovers from, in one atomic step, and register the replica.
--
-- The replica registers its cursor at the checkpoint revision, so no compaction trims
-- the events it is about to replay.
--
-- The log's identity is set by the first replica that opens it (ARGV[2], random) and
-- never changes: a client that sees another one knows the log was reset or replaced.
--
-- KEYS: 1 revision counter, 2 checkpoint revision, 3 compacted_through, 4 task_states,
--       5 replicas, 6 replicas_seen, 7 log_id
-- ARGV: replica_id, log_id to set if the log has none
-- Reply: {revision, checkpoint_revision, compacted_through, {task_id, state, ...}, log_id}
local checkpoint = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[7], ARGV[2], 'NX')
local now = redis.call('TIME')
redis.call('HSET', KEYS[5], ARGV[1], string.format('%d', checkpoint))
redis.call('ZADD', KEYS[6], string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)),
  ARGV[1])
return {
  tonumber(redis.call('GET', KEYS[1]) or '0'),
  checkpoint,
  tonumber(redis.call('GET', KEYS[3]) or '0'),
  redis.call('HGETALL', KEYS[4]),
  redis.call('GET', KEYS[7]),
}
