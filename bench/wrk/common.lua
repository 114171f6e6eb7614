-- Shared by the scenario scripts: token files, per-thread ids, and one JSON line of results.
local M = {}

-- Lines of "token customer_id".
function M.tokens(path)
  local list = {}
  for line in io.lines(path) do
    local token, customer = line:match("^(%S+)%s+(%S+)$")
    if token then
      list[#list + 1] = { token = token, customer_id = tonumber(customer) }
    end
  end
  assert(#list > 0, "no tokens in " .. path)
  return list
end

-- Gives each wrk thread an id (as the global `tid` in its own Lua state).
local next_tid = 0
function M.setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

-- Prints the run's figures on one line the benchmark parses.
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end

return M
