-- Add one link to the checkpoint chain (see domain/checkpoint.py).
--
-- Every replica folds the same log and appends delta links of the tasks it changed since
-- its previous link; a restart restores the links by revision from the last base on, so
-- links may arrive out of revision order. A base (``through_link`` > 0) replaces the
-- links it was merged from: those numbered up to ``through_link``; later links stay.
-- Sizes are kept beside the chain, so a replica knows when deltas outgrew the base.
--
-- KEYS: 1 checkpoint revision, 2 links (hash "<n>:b" or "<n>:d" -> blob),
--       3 link counter, 4 sizes (hash base, delta -> bytes)
-- ARGV: revision, blob, through_link (0: a delta)
-- Reply: {base_bytes, delta_bytes}
local links, sizes = KEYS[2], KEYS[4]
local revision, blob, through = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = redis.call('INCR', KEYS[3])
if through == 0 then
  redis.call('HSET', links, string.format('%d:d', n), blob)
  redis.call('HINCRBY', sizes, 'delta', #blob)
else
  local delta = 0
  for _, name in ipairs(redis.call('HKEYS', links)) do
    local number, kind = string.match(name, '^(%d+):(%a)$')
    if tonumber(number) <= through then
      redis.call('HDEL', links, name)
    elseif kind == 'd' then
      delta = delta + redis.call('HSTRLEN', links, name)
    end
  end
  redis.call('HSET', links, string.format('%d:b', n), blob)
  redis.call('HSET', sizes, 'base', #blob, 'delta', delta)
end
if tonumber(redis.call('GET', KEYS[1]) or '0') < revision then
  redis.call('SET', KEYS[1], ARGV[1])
end
return {tonumber(redis.call('HGET', sizes, 'base') or '0'),
  tonumber(redis.call('HGET', sizes, 'delta') or '0')}
