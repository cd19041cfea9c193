-- wrk script: the URL given on the command line, with the test merchant's API credentials.
function init(args)
   wrk.headers["X-Api-Key"] = os.getenv("BENCH_KEY")
   wrk.headers["X-Api-Secret"] = os.getenv("BENCH_SECRET")
end
