-- wrk script of the load test (benchmark/loadtest.js). LOADTEST_BODY selects the requests:
--   unset     GET of the URL's path
--   fixed     POST of the same JSON body every time: after the first, the layer answers
--             /process from its result cache (hits)
--   unique    POST of a JSON body unique to each request: every one a miss the layer
--             sends on to the backend's processor (POST /)
-- The done hook prints one line, "LOADTEST_JSON {...}", with the figures the harness reads:
-- wrk's text summary has no p99.9 and rounds its units.

local mode = os.getenv("LOADTEST_BODY")

if mode == "fixed" or mode == "unique" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"item":1,"op":"price"}'
end

if mode == "unique" then
  -- Threads number themselves so that bodies stay unique whatever -t is.
  local threads = 0
  function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
  end

  local counter = 0
  function request()
    counter = counter + 1
    return wrk.format(nil, nil, nil, '{"item":' .. counter .. ',"thread":' .. (thread_id or 0) .. ',"op":"price"}')
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADTEST_JSON {"requests":%d,"durationUs":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latencyUs":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
