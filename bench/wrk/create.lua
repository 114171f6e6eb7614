-- POST /api/v1/orders: 3 distinct products, a fresh Idempotency-Key each, tokens of many
-- customers (each ordering for itself).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local users, products, first_product, run, counter

function init(args)
  users = common.tokens(os.getenv("BENCH_CUSTOMER_TOKENS"))
  products = tonumber(os.getenv("BENCH_PRODUCTS"))
  first_product = tonumber(os.getenv("BENCH_FIRST_PRODUCT"))
  run = os.getenv("BENCH_RUN")
  counter = 0
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  counter = counter + 1
  local user = users[math.random(#users)]
  local a = math.random(products)
  local b, c
  repeat b = math.random(products) until b ~= a
  repeat c = math.random(products) until c ~= a and c ~= b
  local base = first_product - 1
  local body = string.format(
    '{"customer_id":%d,"items":[{"product_id":%d,"quantity":%d},' ..
    '{"product_id":%d,"quantity":%d},{"product_id":%d,"quantity":%d}]}',
    user.customer_id, base + a, math.random(3), base + b, math.random(3), base + c, math.random(3))
  return wrk.format("POST", "/api/v1/orders", {
    ["Authorization"] = "Bearer " .. user.token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, tid, counter),
  }, body)
end
