-- GET /health: the cost of the HTTP stack alone.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done
wrk.method = "GET"
wrk.path = "/health"
