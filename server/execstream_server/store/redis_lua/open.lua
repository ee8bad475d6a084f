-- Read what a replica recovers from, in one atomic step, and register the replica.
--
-- The replica registers its cursor at the checkpoint revision, so no compaction trims
-- the events it is about to replay.
--
-- The log's identity is set by the first replica that opens it (ARGV[2], random) and
-- never changes: a client that sees another one knows the log was reset or replaced.
-- The log's format is set with it: a log holding revisions but no format was written
-- with one stream entry per event, which this version does not read.
--
-- KEYS: 1 revision counter, 2 checkpoint revision, 3 compacted_through, 4 checkpoint
--       links, 5 replicas, 6 replicas_seen, 7 log_id, 8 format
-- ARGV: replica_id, log_id to set if the log has none, format
-- Reply: {revision, checkpoint_revision, compacted_through, {link, blob, ...}, log_id,
--         format}   (nothing is registered when the format is not ARGV[3])
local revision = tonumber(redis.call('GET', KEYS[1]) or '0')
local format = redis.call('GET', KEYS[8])
if not format and revision == 0 then
  redis.call('SET', KEYS[8], ARGV[3])
  format = ARGV[3]
end
local checkpoint = tonumber(redis.call('GET', KEYS[2]) or '0')
if format == ARGV[3] then
  redis.call('SET', KEYS[7], ARGV[2], 'NX')
  local now = redis.call('TIME')
  redis.call('HSET', KEYS[5], ARGV[1], string.format('%d', checkpoint))
  redis.call('ZADD', KEYS[6],
    string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)), ARGV[1])
end
return {
  revision,
  checkpoint,
  tonumber(redis.call('GET', KEYS[3]) or '0'),
  redis.call('HGETALL', KEYS[4]),
  redis.call('GET', KEYS[7]) or '',
  format or '',
}
