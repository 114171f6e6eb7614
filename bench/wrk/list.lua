-- GET /api/v1/orders?status=pending&page=N&page_size=20: staff tokens, pages 1..BENCH_PAGES.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local users, pages

function init(args)
  users = common.tokens(os.getenv("BENCH_STAFF_TOKENS"))
  pages = tonumber(os.getenv("BENCH_PAGES"))
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local user = users[math.random(#users)]
  return wrk.format("GET",
    "/api/v1/orders?status=pending&page=" .. math.random(pages) .. "&page_size=20",
    { ["Authorization"] = "Bearer " .. user.token })
end
