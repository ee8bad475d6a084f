-- Store folded task states through a revision, only if that revision is newer than the
-- stored checkpoint. Every replica folds the same log, so a checkpoint at a newer revision
-- already covers an older one; writing states and revision in one script keeps a reader
-- from ever seeing states newer than the checkpoint revision it read.
--
-- KEYS: 1 checkpoint revision, 2 task_states (hash task_id -> serialized TaskState)
-- ARGV: revision, (task_id, state) * n
-- Reply: 1 when written, 0 when an equal or newer checkpoint was already stored
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored >= tonumber(ARGV[1]) then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
