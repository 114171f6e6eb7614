-- GET /api/v1/orders/{id}: staff tokens, ids drawn from the hot set 1..BENCH_HOT_ORDERS.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local users, hot

function init(args)
  users = common.tokens(os.getenv("BENCH_STAFF_TOKENS"))
  hot = tonumber(os.getenv("BENCH_HOT_ORDERS"))
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local user = users[math.random(#users)]
  return wrk.format("GET", "/api/v1/orders/" .. math.random(hot),
    { ["Authorization"] = "Bearer " .. user.token })
end
