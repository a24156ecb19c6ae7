-- SPDX-License-Identifier: Apache-2.0
-- wrk script of the benchmark: POSTs one AdmissionReview file and prints one result line.
--
-- Environment: BENCH_BODY is the file to send; BENCH_CLOSE=1 adds `Connection: close`, so that
-- every request opens a new TLS connection (the handshake churn run). The path comes from the
-- URL given to wrk. done() prints, on one line that bench/run collects:
--   BENCH requests=N seconds=S rps=R p50_us=P p99_us=Q errors=E non2xx=X
-- Latency percentiles are wrk's own, in microseconds.

local path = os.getenv("BENCH_BODY")
if path == nil or path == "" then
   error("set BENCH_BODY to the AdmissionReview file to send")
end
local f = assert(io.open(path, "rb"))
wrk.body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
if os.getenv("BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   -- wrk counts non-2xx answers in errors.status; the others are socket errors.
   local socket_errors = e.connect + e.read + e.write + e.timeout
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(99), socket_errors, e.status))
end
