-- Admits a login attempt of one (account, client network) pair, counting it before the
-- password is hashed. KEYS[1]: the account's hash (`f:<net>` failures and `l:<net>` locked-
-- until ms per network, `a` failures from all networks); KEYS[2]: the pair's attempts in
-- flight (a sorted set by start time). ARGV: network, attempt id, threshold, stale-after ms.
-- Returns {admitted (1/0), retry after ms, account failures}. Redis' clock, so every instance
-- agrees.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local net, threshold, stale = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'l:' .. net) or '0')
if locked_until > now then
  return {0, locked_until - now, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - stale)
if threshold > 0 then
  local failures = tonumber(redis.call('HGET', KEYS[1], 'f:' .. net) or '0')
  local limit = threshold
  if failures >= threshold then
    limit = failures + 1
  end
  -- The same rule as `domain::lockout::admits`.
  if failures + redis.call('ZCARD', KEYS[2]) >= limit then
    return {0, 1000, 0}
  end
end
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], stale)
return {1, 0, tonumber(redis.call('HGET', KEYS[1], 'a') or '0')}
