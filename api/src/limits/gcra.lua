-- GCRA (the generic cell rate algorithm): one key per client holds its "theoretical arrival
-- time" (TAT) in microseconds of Redis' own clock, so every API instance agrees on time.
-- KEYS[1]: the client's key. ARGV[1]: µs per request (the replenish interval). ARGV[2]: burst.
-- Returns {allowed (1/0), remaining, µs until allowed (0 when allowed), µs until full}.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
