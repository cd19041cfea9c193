-- wrk script: POST /api/v1/payments, cycling through pre-created order ids (one per line in
-- the file named by BENCH_ORDERS) so that no request meets the "order already paid" path.
local ids = {}
local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(os.getenv("BENCH_ORDERS")) do
      ids[#ids + 1] = line
   end
   index = tid
   step = tonumber(os.getenv("BENCH_THREADS"))
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["X-Api-Key"] = os.getenv("BENCH_KEY")
   wrk.headers["X-Api-Secret"] = os.getenv("BENCH_SECRET")
end

function request()
   index = index + step
   if index > #ids then index = (index % #ids) + 1 end
   local body = '{"order_id":"' .. ids[index] .. '","method":"upi","vpa":"bench@upi"}'
   return wrk.format(nil, "/api/v1/payments", nil, body)
end
