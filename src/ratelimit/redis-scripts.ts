/**
 * The Lua scripts of the Redis-distributed rate limiters: one per algorithm, each deciding a
 * request atomically in one round trip with the semantics of the native crate
 * (`crates/ratelimit`): the same meaning of limit, window and burst, the same `remaining`, and
 * durations rounded up to whole milliseconds.
 *
 * Every script touches exactly one key (`KEYS[1]`), so it runs on Redis Cluster, and reads the
 * time with Redis `TIME`, so the clocks of the calling processes do not matter. A script that
 * consumes sets a PEXPIRE on the key for the moment its state is back to full (a key that
 * disappears then behaves exactly like one never seen), so Redis never fills with dead keys.
 * Denials and requests of cost 0 write nothing (but the sliding log's dropping of expired
 * entries): the state they would store is the one already stored, brought up to date, which the
 * next call recomputes the same way.
 *
 * Redis 5 or later: scripts replicate their effects, so reading `TIME` before writing is
 * allowed without `redis.replicate_commands()` (which Redis 3.2 and 4 would need).
 *
 * # Arguments and reply
 *
 * `ARGV[1]` is the cost n; `ARGV[2]` is 0 for a plain decision (all n units or none), or
 * m ≥ 1 to *take* between m and n units: as many as are available, up to n, if at least m are
 * (the lease of the batcher). The algorithm's parameters follow (see {@link scriptArguments}).
 * The reply is `{allowed, remaining, retryAfterMs, resetMs, granted, nowUs}`: the decision as
 * in `decision.rs` (for a take that is denied, retryAfterMs is the wait for m units), the units
 * consumed, and the Redis time the decision was made at, in µs since the epoch.
 *
 * # Precision
 *
 * Lua 5.1 numbers are doubles, exact for integers up to 2^53. The scripts work in whole
 * microseconds from `TIME`; a time stays below 2^52 µs until the year 2112, and every duration
 * below 2^51 µs (the limits {@link scriptArguments} checks), so sums of times and durations stay
 * exact. The bucket algorithms count in the crate's scaled units (one microsecond is L = limit/g
 * units and one token W = windowUs/g, with g = gcd(limit, windowUs), so every quantity is an
 * integer); {@link scriptArguments} requires burst × W + 2L ≤ 2^53, and the scripts bound a
 * time before multiplying it by L (the token bucket's elapsed time by the time to refill, GCRA's
 * lead of the TAT by a full bucket), so no intermediate result exceeds that. The
 * sliding window compares `previous × (window − elapsed)` with `k × window` for counts up to
 * the limit, which needs limit × windowUs ≤ 2^53. The fixed window and the sliding log only add
 * times. Quotient and remainder come from `math.fmod`, which is exact for doubles, as
 * `(a − fmod(a, b)) / b` (an exact multiple of b divided by b); `math.floor(a / b)` could round
 * up to the next integer for large a.
 */
import { InvalidArgumentError } from '../core/errors'
import type { FixedRateAlgorithm, Quota } from './quota'

/** The largest integer every Lua number (a double) holds exactly. */
const EXACT = 2n ** 53n

/** The longest window the scripts accept, in microseconds: 2^50 µs (about 35.7 years). */
const MAX_WINDOW_US = 2n ** 50n

/** The longest time a bucket may take to refill from empty, in microseconds: 2^51 µs. */
const MAX_REFILL_US = 2n ** 51n

// Shared by every script: arguments, the clock, exact integer division, the take mode and the
// reply. Field names in the hashes are one letter: they are stored once per key.
const PRELUDE = `
local key = KEYS[1]
local n = tonumber(ARGV[1])
local least = tonumber(ARGV[2])
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])

local function divmod(a, b)
  local r = math.fmod(a, b)
  return (a - r) / b, r
end

local function ceil_div(a, b)
  local q, r = divmod(a, b)
  if r > 0 then return q + 1 end
  return q
end

local function cost_for(available)
  if least == 0 then return n end
  if available >= least then return math.min(n, available) end
  return least
end

-- The key disappears us microseconds after Redis' clock, once its state is back to full.
local function expire_after(us)
  redis.call('PEXPIRE', key, ceil_div(us, 1000))
end

local function reply(allowed, cost, remaining, retry_us, reset_us, now)
  if allowed then return {1, remaining, 0, ceil_div(reset_us, 1000), cost, now} end
  return {0, remaining, ceil_div(retry_us, 1000), ceil_div(reset_us, 1000), 0, now}
end
`

// State: n whole tokens, f the fraction of a token in scaled units (below W), t the time of
// the level in µs. A clock stepping back counts as no time passing.
const TOKEN_BUCKET = `
local rate, unit, burst = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local capacity = burst * unit
local now, level = clock, capacity
local state = redis.call('HMGET', key, 'n', 'f', 't')
if state[3] then
  local updated = tonumber(state[3])
  if updated > now then now = updated end
  -- The minimums keep a state written under another quota within this one.
  level = math.min(math.min(tonumber(state[1]), burst) * unit + math.min(tonumber(state[2]), unit - 1), capacity)
  local elapsed = now - updated
  if elapsed >= ceil_div(capacity - level, rate) then level = capacity else level = level + elapsed * rate end
end
local cost = cost_for((divmod(level, unit)))
local need = cost * unit
if level >= need then
  level = level - need
  local reset = ceil_div(capacity - level, rate)
  if cost > 0 then
    local tokens, fraction = divmod(level, unit)
    redis.call('HSET', key, 'n', tokens, 'f', fraction, 't', now)
    expire_after(now - clock + reset)
  end
  return reply(true, cost, (divmod(level, unit)), 0, reset, now)
end
return reply(false, cost, (divmod(level, unit)), ceil_div(need - level, rate), ceil_div(capacity - level, rate), now)
`

// State: the theoretical arrival time (TAT), exactly t + r / L µs (r below L); the key is full
// from the TAT on. "room" is what is left of the bucket at the time of the call, in scaled units.
const GCRA = `
local rate, unit, burst = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local capacity = burst * unit
local tat, fraction = clock, 0
local state = redis.call('HMGET', key, 't', 'r')
if state[1] and tonumber(state[1]) >= clock then
  tat, fraction = tonumber(state[1]), math.min(tonumber(state[2]), rate - 1)
end
local ahead = tat - clock
if ahead > ceil_div(capacity, rate) then
  -- More than a full bucket ahead, which only a clock stepping back causes: denied whatever the
  -- cost. Both durations are the whole µs ahead plus less than a bucket, computed that way so
  -- that ahead × L is never formed.
  local cost = cost_for(0)
  local excess = fraction + cost * unit - capacity
  local retry
  if excess >= 0 then retry = ahead + ceil_div(excess, rate) else retry = ahead - (divmod(-excess, rate)) end
  return reply(false, cost, 0, retry, ahead + ceil_div(fraction, rate), clock)
end
local room = capacity - ahead * rate - fraction
local cost = cost_for((divmod(math.max(room, 0), unit)))
local need = cost * unit
if need <= room then
  local lead = capacity - room + need
  local reset = ceil_div(lead, rate)
  if cost > 0 then
    local whole, rest = divmod(lead, rate)
    redis.call('HSET', key, 't', clock + whole, 'r', rest)
    expire_after(reset)
  end
  return reply(true, cost, (divmod(room - need, unit)), 0, reset, clock)
end
return reply(false, cost, (divmod(math.max(room, 0), unit)), ceil_div(need - room, rate), ceil_div(capacity - room, rate), clock)
`

// Windows are aligned to the epoch: [k·window, (k+1)·window) in µs. State: s the start of
// the window counted in, c its count. A clock stepping back stays in the stored window.
const FIXED_WINDOW = `
local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, count = clock, 0
local state = redis.call('HMGET', key, 's', 'c')
local stored = tonumber(state[1])
if stored and stored > now then now = stored end
local start = now - math.fmod(now, window)
if stored == start then count = math.min(tonumber(state[2]), limit) end
local until_next = start + window - now
local cost = cost_for(limit - count)
if count + cost <= limit then
  count = count + cost
  if cost > 0 then
    redis.call('HSET', key, 's', start, 'c', count)
    expire_after(start + window - clock)
  end
  local reset = 0
  if count > 0 then reset = until_next end
  return reply(true, cost, limit - count, 0, reset, now)
end
return reply(false, cost, limit - count, until_next, until_next, now)
`

// State: s the start of the current window, p the count of the window before it, c its own
// count. A window's count weighs until the end of the window after it.
const SLIDING_WINDOW = `
local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, previous, current = clock, 0, 0
local state = redis.call('HMGET', key, 's', 'p', 'c')
local stored = tonumber(state[1])
if stored and stored > now then now = stored end
local start = now - math.fmod(now, window)
if stored == start then
  previous, current = math.min(tonumber(state[2]), limit), math.min(tonumber(state[3]), limit)
elseif stored == start - window then
  previous = math.min(tonumber(state[3]), limit)
end
local elapsed = now - start
-- Admitted when previous × (window − elapsed) + (current + cost) × window ≤ limit × window,
-- that is when cost ≤ limit − current − ⌈previous × (window − elapsed) / window⌉.
local available = limit - current - ceil_div(previous * (window - elapsed), window)
local function until_full(cur, prev)
  if cur > 0 then return start + 2 * window - now end
  if prev > 0 then return start + window - now end
  return 0
end
-- The least offset into a window from which count units weighted by the rest of the window
-- fit in budget units.
local function fits_from(budget, count)
  if count == 0 then return 0 end
  return window - math.min((divmod(budget * window, count)), window)
end
local cost = cost_for(available)
if cost <= available then
  if cost > 0 then
    redis.call('HSET', key, 's', start, 'p', previous, 'c', current + cost)
    expire_after(start + 2 * window - clock)
  end
  return reply(true, cost, available - cost, 0, until_full(current + cost, previous), now)
end
local wait
if current + cost <= limit then
  wait = math.max(fits_from(limit - current - cost, previous) - elapsed, 0)
else
  wait = window - elapsed + fits_from(limit - cost, current)
end
return reply(false, cost, math.max(available, 0), wait, until_full(current, previous), now)
`

// State: a list of the µs times of the units admitted in the last window, oldest first, one
// entry per unit. A clock stepping back counts as no time passing, which keeps it sorted.
const SLIDING_LOG = `
local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, used, newest = clock, redis.call('LLEN', key), nil
if used > 0 then
  newest = tonumber(redis.call('LINDEX', key, -1))
  if newest > now then now = newest end
  -- A unit admitted at or before the cutoff has left the window.
  local cutoff = now - window
  if newest <= cutoff then
    redis.call('DEL', key)
    used, newest = 0, nil
  elseif tonumber(redis.call('LINDEX', key, 0)) <= cutoff then
    -- Binary search for the first unit still in the window; entry 0 is not.
    local low, high = 1, used - 1
    while low < high do
      local middle = math.floor((low + high) / 2)
      if tonumber(redis.call('LINDEX', key, middle)) > cutoff then high = middle else low = middle + 1 end
    end
    redis.call('LTRIM', key, low, -1)
    used = used - low
  end
end
local cost = cost_for(limit - used)
if used + cost <= limit then
  if cost > 0 then
    local chunk = {}
    for i = 1, math.min(cost, 1000) do chunk[i] = now end
    local left = cost
    while left > 0 do
      local size = math.min(left, 1000)
      redis.call('RPUSH', key, unpack(chunk, 1, size))
      left = left - size
    end
    expire_after(now + window - clock)
    newest = now
  end
  local reset = 0
  if newest then reset = newest + window - now end
  return reply(true, cost, limit - used - cost, 0, reset, now)
end
-- The request fits once the oldest used + cost − limit units have left the window.
local oldest = tonumber(redis.call('LINDEX', key, used + cost - limit - 1))
return reply(false, cost, math.max(limit - used, 0), oldest + window - now, newest + window - now, now)
`

/** A script of one algorithm, as registered with ioredis `defineCommand`. */
export interface RateLimitScript {
  /** The command name the script is defined under on a client. */
  readonly command: string
  /** The Lua source. */
  readonly lua: string
}

function script(command: string, body: string): RateLimitScript {
  return Object.freeze({ command, lua: PRELUDE + body })
}

/** The script of every algorithm. */
export const RATE_LIMIT_SCRIPTS: Readonly<Record<FixedRateAlgorithm, RateLimitScript>> = Object.freeze({
  'token-bucket': script('optlayerRateLimitTokenBucket', TOKEN_BUCKET),
  gcra: script('optlayerRateLimitGcra', GCRA),
  'sliding-window': script('optlayerRateLimitSlidingWindow', SLIDING_WINDOW),
  'sliding-log': script('optlayerRateLimitSlidingLog', SLIDING_LOG),
  'fixed-window': script('optlayerRateLimitFixedWindow', FIXED_WINDOW),
})

/**
 * The arguments that follow the cost and the take bound for `algorithm` with `quota`:
 * `[L, W, burst]` in scaled units for the bucket algorithms, `[limit, windowUs]` for the
 * others. Throws {@link InvalidArgumentError} when the quota is outside what the scripts
 * compute exactly in doubles (see the module docs): a window above 2^50 µs (35.7 years), a
 * bucket that takes more than 2^51 µs to refill or whose capacity in scaled units (plus 2L)
 * exceeds 2^53, or a sliding window whose limit × windowUs exceeds 2^53.
 */
export function scriptArguments(algorithm: FixedRateAlgorithm, quota: Quota): number[] {
  const limit = BigInt(quota.limit)
  const windowUs = BigInt(quota.windowMs) * 1000n
  if (windowUs > MAX_WINDOW_US) {
    throw new InvalidArgumentError(
      `invalid windowMs: expected at most ${MAX_WINDOW_US / 1000n} for a Redis-backed limiter, got ${quota.windowMs}`,
    )
  }
  switch (algorithm) {
    case 'token-bucket':
    case 'gcra': {
      const burst = BigInt(quota.burst)
      const g = gcd(limit, windowUs)
      const [rate, unit] = [limit / g, windowUs / g]
      if ((burst * windowUs + limit - 1n) / limit > MAX_REFILL_US) {
        throw new InvalidArgumentError(
          `invalid burst: a Redis-backed ${algorithm} must refill within 2^51 µs, but burst × windowMs / limit = ${(burst * windowUs) / limit / 1000n} ms`,
        )
      }
      if (burst * unit + 2n * rate > EXACT) {
        throw new InvalidArgumentError(
          `invalid quota: a Redis-backed ${algorithm} needs burst × windowMs × 1000 / gcd(limit, windowMs × 1000) below 2^53 to compute exactly in Lua, got ${burst * unit}; use a limit that shares more factors with the window in µs, or a smaller burst`,
        )
      }
      return [Number(rate), Number(unit), quota.burst]
    }
    case 'sliding-window':
      if (limit * windowUs > EXACT) {
        throw new InvalidArgumentError(
          `invalid quota: a Redis-backed sliding-window needs limit × windowMs × 1000 ≤ 2^53 to compute exactly in Lua, got ${limit * windowUs}; use a shorter window with a proportional limit, or another algorithm`,
        )
      }
      return [quota.limit, Number(windowUs)]
    case 'sliding-log':
    case 'fixed-window':
      return [quota.limit, Number(windowUs)]
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}
