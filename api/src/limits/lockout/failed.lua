-- Records a failed attempt: KEYS as admit.lua; ARGV: network, attempt id, window ms, and the
-- pair's cool-down in ms for the failure count this makes (a list indexed by failures past
-- the threshold, computed by `domain::lockout::cooldown`), threshold.
-- Returns {pair failures, account failures, lock ms (0: not locked)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local net = ARGV[1]
redis.call('ZREM', KEYS[2], ARGV[2])
local failures = redis.call('HINCRBY', KEYS[1], 'f:' .. net, 1)
local account = redis.call('HINCRBY', KEYS[1], 'a', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local threshold = tonumber(ARGV[5])
local lock = 0
if threshold > 0 and failures >= threshold then
  local cooldowns = cjson.decode(ARGV[4])
  local index = math.min(failures - threshold + 1, #cooldowns)
  lock = cooldowns[index]
  redis.call('HSET', KEYS[1], 'l:' .. net, now + lock)
end
return {failures, account, lock}
