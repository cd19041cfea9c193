-- wrk script: POST /api/v1/payments, cycling through pre-created order ids (one per line in
-- the file named by BENCH_ORDERS) so that no request meets the "order already paid" path.
-- BENCH_MODE: upi (default) | idem (upi with a fresh Idempotency-Key each) | card.
local ids = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
end

function init(args)
   for line in io.lines(os.getenv("BENCH_ORDERS")) do
      ids[#ids + 1] = line
   end
   index = tid
   step = tonumber(os.getenv("BENCH_THREADS"))
   mode = os.getenv("BENCH_MODE") or "upi"
   run = os.getenv("BENCH_RUN") or tostring(os.time())
   seq = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["X-Api-Key"] = os.getenv("BENCH_KEY")
   wrk.headers["X-Api-Secret"] = os.getenv("BENCH_SECRET")
end

function request()
   index = index + step
   if index > #ids then index = (index % #ids) + 1 end
   local body
   if mode == "card" then
      body = '{"order_id":"' .. ids[index] .. '","method":"card","card":{"number":"4111111111111111","expiry_month":"12","expiry_year":"2099","cvv":"123","holder_name":"A"}}'
   else
      body = '{"order_id":"' .. ids[index] .. '","method":"upi","vpa":"bench@upi"}'
   end
   local headers = nil
   if mode == "idem" then
      seq = seq + 1
      headers = {}
      for k, v in pairs(wrk.headers) do headers[k] = v end
      headers["Idempotency-Key"] = "k-" .. run .. "-" .. tid .. "-" .. seq
   end
   return wrk.format(nil, "/api/v1/payments", headers, body)
end
