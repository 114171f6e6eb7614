-- GET BENCH_PATH with the tokens of BENCH_TOKENS (a token file): the growth run's lists, deep
-- page and summary.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local users, path

function init(args)
  users = common.tokens(os.getenv("BENCH_TOKENS"))
  path = os.getenv("BENCH_PATH")
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local user = users[math.random(#users)]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. user.token })
end
