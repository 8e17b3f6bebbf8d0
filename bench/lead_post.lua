-- wrk script: POST one new lead per request, each with its own source_lead_id, and write the
-- ids of the leads answered 2xx to a file, so the benchmark can check each one was stored.
-- Arguments: a run name, the ids file, the run's first phone number (a slot the driver gives
-- each run, so no run repeats another's phones) and the API key (none for the baseline).
local counter = 0
local prefix = ""
local first_phone = 0
-- Phones a thread may use: more than one thread sends in a run of any length measured here.
local PHONES_PER_THREAD = 100000
ids = {}  -- a global, so done() can read each thread's copy
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  prefix = (args[1] or "run") .. "-" .. math.random(1, 1000000000)
  ids_path = args[2]
  first_phone = tonumber(args[3]) + thread_index * PHONES_PER_THREAD
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[4] then wrk.headers["Authorization"] = "Bearer " .. args[4] end
end

request = function()
  counter = counter + 1
  -- A new person per lead, as from a real vendor: were phones to repeat across threads or
  -- runs, every lead of the later runs would be a duplicate, flagged as a repeat.
  local n = (first_phone + counter) % 8000000
  local phone = string.format("+1305%03d%04d", 200 + math.floor(n / 10000), n % 10000)
  -- Each consumer's own IP, as on real forms: one shared IP would hide the cost of a new one.
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.floor(counter / 256) % 256, counter % 256)
  local body = string.format(
    '{"source_lead_id":"%s-%d","first_name":"Dana","last_name":"Whitfield",' ..
    '"phone":"%s","email":"dana%s%d@example.com","zip":"33130","state":"FL","product":"solar",' ..
    '"consent":{"captured_at":"2026-11-22T14:03:00Z","ip":"%s",' ..
    '"page_url":"https://quotes.example.com/solar","disclosure_text":"I agree that ' ..
    'Brightside Home Services may call and text me.","sellers":["Brightside Home Services"],' ..
    '"channels":["call","sms"]}}',
    prefix, counter, phone, prefix, counter, ip)
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  if status >= 200 and status < 300 then
    local id = body:match('"id":%s*(%d+)')
    if id then ids[#ids + 1] = id end
  end
end

function done(summary, latency, requests)
  local path = nil
  local out = {}
  for _, thread in ipairs(threads) do
    path = thread:get("ids_path")
    local thread_ids = thread:get("ids")
    for _, id in ipairs(thread_ids) do out[#out + 1] = id end
  end
  local file = io.open(path, "w")
  file:write(table.concat(out, "\n"))
  file:close()
end
