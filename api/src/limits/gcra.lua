-- GCRA (the generic cell rate algorithm): one key per client holds its "theoretical arrival
-- time" (TAT) in microseconds of Redis' own clock, so every API instance agrees on time.
-- KEYS[1]: the client's key. ARGV[1]: µs per request (the replenish interval). ARGV[2]: burst.
-- ARGV[3]: how many requests to admit at once (an instance's lease, `lease.rs`); fewer are
-- granted when fewer are available, none when none is.
-- Returns {granted, remaining after them, µs until one is available (0 when granted),
-- µs until the quota is full again}.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local available = math.floor((now - tat) / interval) + burst
if available < 1 then
  return {0, 0, tat + interval - burst * interval - now, tat - now}
end
local granted = math.min(want, available)
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
return {granted, available - granted, 0, new_tat - now}
