-- Read what a replica recovers from, in one atomic step, and register the replica.
--
-- The replica registers its cursor at the checkpoint revision, so no compaction trims
-- the events it is about to replay.
--
-- KEYS: 1 revision counter, 2 checkpoint revision, 3 compacted_through, 4 task_states,
--       5 replicas, 6 replicas_seen
-- ARGV: replica_id
-- Reply: {revision, checkpoint_revision, compacted_through, {task_id, state, ...}}
local checkpoint = tonumber(redis.call('GET', KEYS[2]) or '0')
local now = redis.call('TIME')
redis.call('HSET', KEYS[5], ARGV[1], string.format('%d', checkpoint))
redis.call('ZADD', KEYS[6], string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)),
  ARGV[1])
return {
  tonumber(redis.call('GET', KEYS[1]) or '0'),
  checkpoint,
  tonumber(redis.call('GET', KEYS[3]) or '0'),
  redis.call('HGETALL', KEYS[4]),
}
