/**
 * The Lua scripts of the durable task queue. Every state change of a task is one script, so
 * it is atomic and costs one round trip; consumers acknowledge finished tasks and fetch the
 * next ones in the same call ({@link CYCLE}).
 *
 * # Why lists with Lua rather than Streams
 *
 * Streams with consumer groups give at-least-once delivery and `XAUTOCLAIM`, but no
 * priorities (four streams would need four reads per fetch and a weighted choice across them
 * done by the client), no delayed retries (a sorted set is needed anyway) and no way to update
 * a task's record in the same command that delivers it. Lists with Lua do all of that in one
 * script: the weighted pick across four priority lists, the move to the `active` sorted set
 * (scored by the visibility deadline, which is how dead consumers are detected), the record
 * update, the promotion of due retries and the reclaim of expired tasks.
 *
 * # Keys
 *
 * All share the hash tag `{name}`, so every script touches one Cluster slot:
 * `KEYS[1..4]` the pending lists of priorities 0..3 (pushed left, popped right: FIFO),
 * `KEYS[5]` `active` (id → visibility deadline), `KEYS[6]` `delayed` (id → retry due time),
 * `KEYS[7]` `dead` (id → time of death), `KEYS[8]` `meta` (the weighted-pick cursor).
 * `ARGV[1]` is the prefix of task records (`<prefix>{name}:t:<id>`, a hash) and `ARGV[2]`
 * the queue's pub/sub channel. Record fields are short: they are stored once per task.
 *
 * Times are Redis' `TIME` in milliseconds, so the clocks of the processes do not matter
 * (Redis 5+: scripts replicate their effects, so reading `TIME` before writing is allowed).
 *
 * # Channel messages
 *
 * `w` new work; `c<id>` cancel the running task `id`; `d<json>` tasks that reached a final
 * state: `[[id, state, payload], ...]` where the payload is the JSON result or error.
 */

const PRELUDE = `
local rp, channel = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local active, delayed, dead, meta = KEYS[5], KEYS[6], KEYS[7], KEYS[8]

local function pending_count()
  return redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
    + redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', delayed)
end

local function depth()
  return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('LLEN', KEYS[3]),
    redis.call('LLEN', KEYS[4]), redis.call('ZCARD', delayed), redis.call('ZCARD', active)}
end

local final = {}
local function finish(rec, id, state, payload, ttl)
  if state == 'succeeded' then
    redis.call('HSET', rec, 's', state, 'f', now, 'res', payload)
  elseif payload ~= '' then
    redis.call('HSET', rec, 's', state, 'f', now, 'e', payload)
  else
    redis.call('HSET', rec, 's', state, 'f', now)
  end
  redis.call('HDEL', rec, 'ow')
  if state == 'dead' then
    redis.call('ZADD', dead, now, id)
  elseif ttl > 0 then
    redis.call('PEXPIRE', rec, ttl)
  end
  final[#final + 1] = {id, state, payload}
end

local function publish_final()
  if #final > 0 then redis.call('PUBLISH', channel, 'd' .. cjson.encode(final)) end
end
`

// Retries (delayed) and tasks whose consumer stopped heartbeating (active) go back to
// pending; the latter at the head of their list, as they were first in line already. Only a
// task its consumer confirmed receiving (field `rx`, set by EXTEND) counts a stall: one whose
// claim reply was lost never ran, so it goes back with its attempt uncounted.
const RECLAIM = `
local function promote(ttl, max_stalls, dead_letter)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local rec = rp .. id
    local p = redis.call('HGET', rec, 'p')
    if p then
      redis.call('HSET', rec, 's', 'pending')
      redis.call('LPUSH', KEYS[tonumber(p) + 1], id)
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    redis.call('ZREM', active, id)
    local rec = rp .. id
    local f = redis.call('HMGET', rec, 'p', 'cx', 'rx', 'at')
    if f[1] then
      local stalls = 0
      if f[3] then stalls = redis.call('HINCRBY', rec, 'sl', 1) end
      if f[2] then
        finish(rec, id, 'cancelled', '', ttl)
      elseif not f[3] then
        redis.call('HSET', rec, 's', 'pending', 'at', tonumber(f[4]) - 1)
        redis.call('HDEL', rec, 'ow')
        redis.call('RPUSH', KEYS[tonumber(f[1]) + 1], id)
      elseif stalls > max_stalls then
        local err = cjson.encode({name = 'TimeoutError', code = 'ERR_OPTLAYER_TIMEOUT',
          message = 'the consumer running the task stopped heartbeating ' .. stalls .. ' times (visibility timeout)'})
        if dead_letter then finish(rec, id, 'dead', err, ttl) else finish(rec, id, 'failed', err, ttl) end
      else
        redis.call('HSET', rec, 's', 'pending')
        redis.call('HDEL', rec, 'ow')
        redis.call('RPUSH', KEYS[tonumber(f[1]) + 1], id)
      end
    end
  end
end
`

/**
 * Accepts tasks: `ARGV[3]` queueSize, `ARGV[4]` 1 for all-or-nothing, `ARGV[5]` count, then
 * 7 fields per task (id, name, priority, args, retries, backoff, timeoutMs; '' for none).
 * All-or-nothing: an error reply (`QUEUEFULL` or `DUPLICATE <id>`) and nothing written.
 * Otherwise, one status per task: 1 accepted, 2 duplicate id, 3 queue full.
 */
const SUBMIT = `
local size, atomic, count = tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
local room = size - pending_count()
local live = {pending = true, running = true, retrying = true}
local status, seen = {}, {}
for i = 0, count - 1 do
  local b = 6 + i * 7
  local id = ARGV[b]
  local state = redis.call('HGET', rp .. id, 's')
  if seen[id] or (state and live[state]) then
    if atomic then return redis.error_reply('DUPLICATE ' .. id) end
    status[i + 1] = 2
  elseif room <= 0 then
    if atomic then return redis.error_reply('QUEUEFULL') end
    status[i + 1] = 3
  else
    status[i + 1] = 1
    seen[id] = true
    room = room - 1
  end
end
local accepted = false
for i = 0, count - 1 do
  if status[i + 1] == 1 then
    local b = 6 + i * 7
    local id, rec = ARGV[b], rp .. ARGV[b]
    -- The id may be reused once its task finished, dead letters included.
    redis.call('DEL', rec)
    redis.call('ZREM', dead, id)
    redis.call('HSET', rec, 'n', ARGV[b + 1], 'p', ARGV[b + 2], 's', 'pending', 'at', 0, 'c', now, 'r', ARGV[b + 4])
    if ARGV[b + 3] ~= '' then redis.call('HSET', rec, 'a', ARGV[b + 3]) end
    if ARGV[b + 5] ~= '' then redis.call('HSET', rec, 'b', ARGV[b + 5]) end
    if ARGV[b + 6] ~= '' then redis.call('HSET', rec, 'o', ARGV[b + 6]) end
    redis.call('LPUSH', KEYS[tonumber(ARGV[b + 2]) + 1], id)
    accepted = true
  end
end
if accepted then redis.call('PUBLISH', channel, 'w') end
return status
`

// Weighted round robin over the priorities: 8 of 15 picks go to Critical, 4 to High, 2 to
// Normal and 1 to Low, falling back to the most urgent non-empty list; so a non-empty Low
// list gets at least one pick in 15 and never starves.
const PICK = `
local wrr = {0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0}
local cursor = tonumber(redis.call('HGET', meta, 'wrr') or '0')
local function pick()
  local level = wrr[(cursor % 15) + 1]
  cursor = cursor + 1
  local id = redis.call('RPOP', KEYS[level + 1])
  if id then return id end
  for l = 1, 4 do
    id = redis.call('RPOP', KEYS[l])
    if id then return id end
  end
  return nil
end
`

/**
 * A consumer's round trip: records the outcomes of finished tasks, promotes due retries,
 * reclaims expired tasks and claims up to `max` new ones.
 *
 * `ARGV[3]` finishedTtlMs, `ARGV[4]` 1 to dead-letter, `ARGV[5]` maxStalls, `ARGV[6]` the
 * consumer id, `ARGV[7]` visibilityTimeoutMs, `ARGV[8]` max to claim, `ARGV[9]` count of
 * outcomes, then 5 fields per outcome: id, lease, outcome, payload, progress (JSON, '' for
 * none: the last progress reported, stored with the outcome), where outcome is `s`
 * (succeeded, payload = JSON result), `f<delayMs>` (failed attempt, payload = JSON error; the
 * delay is the backoff before a retry, if one is left), `r` (released unrun: back to the head
 * of its list, attempt not counted). An outcome whose lease is not the task's current one (the
 * task was reclaimed meanwhile) is ignored.
 *
 * Reply: `{states, claimed, depth}`: the state each outcome led to ('' when ignored); 10
 * fields per claimed task (id, lease, name, priority, args, retries, backoff, timeoutMs,
 * attempt, createdAt); the depth (4 lists, delayed, active).
 */
const CYCLE = `
local ttl, dead_letter, max_stalls = tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
local consumer, visibility, max, count = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local states = {}
for i = 0, count - 1 do
  local b = 10 + i * 5
  local id, lease, outcome, payload, progress = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local rec = rp .. id
  local f = redis.call('HMGET', rec, 'ow', 'at', 'r', 'cx', 'p', 'sl')
  local state = ''
  if f[1] == lease then
    redis.call('ZREM', active, id)
    if progress ~= '' then redis.call('HSET', rec, 'pg', progress) end
    local kind = string.sub(outcome, 1, 1)
    if kind == 's' then
      state = 'succeeded'
      finish(rec, id, state, payload, ttl)
    elseif kind == 'r' then
      state = 'pending'
      redis.call('HSET', rec, 's', state, 'at', tonumber(f[2]) - 1)
      redis.call('HDEL', rec, 'ow')
      redis.call('RPUSH', KEYS[tonumber(f[5]) + 1], id)
    elseif f[4] then
      state = 'cancelled'
      finish(rec, id, state, payload, ttl)
    elseif tonumber(f[2]) - tonumber(f[6] or '0') <= tonumber(f[3]) then
      -- Runs lost with a dead consumer (stalls) do not use up retries.
      state = 'retrying'
      local due = now + tonumber(string.sub(outcome, 2))
      redis.call('HSET', rec, 's', state, 'e', payload, 'na', due)
      redis.call('HDEL', rec, 'ow')
      redis.call('ZADD', delayed, due, id)
    elseif dead_letter then
      state = 'dead'
      finish(rec, id, state, payload, ttl)
    else
      state = 'failed'
      finish(rec, id, state, payload, ttl)
    end
  end
  states[#states + 1] = state
end
promote(ttl, max_stalls, dead_letter)
local claimed = {}
for i = 1, max do
  local id = pick()
  if not id then break end
  local rec = rp .. id
  local f = redis.call('HMGET', rec, 'n', 'p', 'a', 'r', 'b', 'o', 'at', 'c')
  if f[1] then
    local attempt = tonumber(f[7]) + 1
    local lease = consumer .. ':' .. attempt
    redis.call('HSET', rec, 's', 'running', 'at', attempt, 'st', now, 'ow', lease)
    redis.call('HDEL', rec, 'rx')
    redis.call('ZADD', active, now + visibility, id)
    local n = #claimed
    claimed[n + 1], claimed[n + 2], claimed[n + 3], claimed[n + 4], claimed[n + 5] = id, lease, f[1], f[2], f[3] or ''
    claimed[n + 6], claimed[n + 7], claimed[n + 8], claimed[n + 9], claimed[n + 10] = f[4], f[5] or '', f[6] or '', attempt, f[8]
  end
end
redis.call('HSET', meta, 'wrr', cursor % 15)
publish_final()
return {states, claimed, depth()}
`

/**
 * Heartbeat, also sent as the receipt of freshly claimed tasks: pushes the visibility
 * deadline of running tasks forward, marks them received (`rx`: from now on a reclaim counts
 * a stall) and stores their progress. `ARGV[3]` visibilityTimeoutMs, then 3 fields per task:
 * id, lease, progress JSON ('' for none). Tasks no longer held under that lease (reclaimed and
 * given to another consumer, or finished) are left alone. Reply: the ids of those, whose
 * runs the consumer must abort.
 */
const EXTEND = `
local visibility, lost = tonumber(ARGV[3]), {}
for i = 4, #ARGV, 3 do
  local id, lease, progress = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rec = rp .. id
  if redis.call('HGET', rec, 'ow') == lease then
    redis.call('ZADD', active, 'XX', now + visibility, id)
    redis.call('HSET', rec, 'rx', 1)
    if progress ~= '' then redis.call('HSET', rec, 'pg', progress) end
  else
    lost[#lost + 1] = id
  end
end
return lost
`

/**
 * Cancels `ARGV[4]` (`ARGV[3]` finishedTtlMs): a pending or retrying task is cancelled at
 * once; a running one is flagged and its consumer told on the channel. Reply: the state the
 * task was in, or nil when there is no such task.
 */
const CANCEL = `
local ttl, id = tonumber(ARGV[3]), ARGV[4]
local rec = rp .. id
local f = redis.call('HMGET', rec, 's', 'p')
local state = f[1]
if not state then return nil end
if state == 'pending' then
  redis.call('LREM', KEYS[tonumber(f[2]) + 1], 1, id)
  finish(rec, id, 'cancelled', '', ttl)
elseif state == 'retrying' then
  redis.call('ZREM', delayed, id)
  finish(rec, id, 'cancelled', '', ttl)
elseif state == 'running' then
  redis.call('HSET', rec, 'cx', 1)
  redis.call('PUBLISH', channel, 'c' .. id)
end
publish_final()
return state
`

/**
 * Moves dead task `ARGV[4]` back to pending with its attempts reset (`ARGV[3]` queueSize).
 * Reply: 1 requeued, 0 not a dead letter; error `QUEUEFULL`.
 */
const REQUEUE = `
local size, id = tonumber(ARGV[3]), ARGV[4]
if not redis.call('ZSCORE', dead, id) then return 0 end
if pending_count() >= size then return redis.error_reply('QUEUEFULL') end
local rec = rp .. id
redis.call('ZREM', dead, id)
redis.call('HSET', rec, 's', 'pending', 'at', 0)
redis.call('HDEL', rec, 'ow', 'cx', 'sl', 'f', 'na', 'st', 'rx')
redis.call('LPUSH', KEYS[tonumber(redis.call('HGET', rec, 'p')) + 1], id)
redis.call('PUBLISH', channel, 'w')
return 1
`

/** Deletes up to 1000 dead letters and their records. Reply: how many. */
const PURGE = `
local ids = redis.call('ZRANGE', dead, 0, 999)
for _, id in ipairs(ids) do
  redis.call('ZREM', dead, id)
  redis.call('DEL', rp .. id)
end
return #ids
`

/** A script as registered with ioredis `defineCommand`. */
export interface DurableScript {
  /** The command name the script is defined under on a client. */
  readonly command: string
  /** The Lua source. */
  readonly lua: string
}

const script = (command: string, lua: string): DurableScript => Object.freeze({ command, lua })

/** Every script of the durable queue; each takes the 8 keys of {@link queueKeys}. */
export const DURABLE_SCRIPTS = Object.freeze({
  submit: script('optlayerQueueSubmit', PRELUDE + SUBMIT),
  cycle: script('optlayerQueueCycle', PRELUDE + RECLAIM + PICK + CYCLE),
  extend: script('optlayerQueueExtend', PRELUDE + EXTEND),
  cancel: script('optlayerQueueCancel', PRELUDE + CANCEL),
  requeue: script('optlayerQueueRequeue', PRELUDE + REQUEUE),
  purge: script('optlayerQueuePurge', PRELUDE + PURGE),
})

/** The name of a script of {@link DURABLE_SCRIPTS}. */
export type DurableScriptName = keyof typeof DURABLE_SCRIPTS

/** The Redis keys of queue `name` under `prefix`, all with the hash tag `{name}`. */
export interface QueueKeys {
  /** The 8 keys every script takes, in order. */
  readonly scriptKeys: readonly string[]
  /** Prefix of task records: `record + id`. */
  readonly record: string
  /** The pub/sub channel. */
  readonly channel: string
}

/** The keys of queue `name` under `prefix`. */
export function queueKeys(prefix: string, name: string): QueueKeys {
  const base = `${prefix}{${name}}:`
  return Object.freeze({
    scriptKeys: Object.freeze([
      ...[0, 1, 2, 3].map((p) => `${base}p${p}`),
      `${base}active`,
      `${base}delayed`,
      `${base}dead`,
      `${base}meta`,
    ]),
    record: `${base}t:`,
    channel: `${base}events`,
  })
}
