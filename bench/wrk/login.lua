-- POST /api/v1/auth/login (form): seeded customers, all with the bench password. argon2id-bound.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local customers, password

function init(args)
  customers = tonumber(os.getenv("BENCH_CUSTOMERS"))
  password = os.getenv("BENCH_PASSWORD")
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local body = "username=customer" .. math.random(customers) .. "%40bench.example&password=" .. password
  return wrk.format("POST", "/api/v1/auth/login",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
