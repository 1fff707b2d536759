'use strict'

// Durable task queue against BullMQ, side by side on one private redis-server this suite
// starts (never the machine's 6379): tasks per second from the first submit to the last
// completion, producer and consumer in this process, concurrency 16 on both sides.
//
// Same work: every task carries the same small JSON argument and its handler returns a small
// object; both keep finished tasks for an hour (ours: keepFinishedMs, BullMQ:
// removeOnComplete.age). BullMQ completions are counted from the worker's 'completed'
// events, its cheapest path; ours are awaited through each task's `result` promise, which
// also carries the value back to the submitter. Contenders alternate within every round
// (rotating which goes first), each on a fresh queue, with FLUSHALL in between.

const path = require('node:path')
const Redis = require('ioredis')
const { Queue, Worker } = require('bullmq')
const { DurableTaskQueue } = require('optlayer')
const { figureTable, formatNumber, median, printTable, runIfMain, writeResults } = require('./harness')
const { REDIS_HOST, processCpuMicros, redisCounters, startRedis } = require('./redis-server')

const CONCURRENCY = 16
const BATCH = 100
const TARGET_VS_BULLMQ = 1.0

const argsOf = (i) => ({ user: `user-${i % 1000}`, template: 'welcome', locale: 'en-GB', attempt: i })
const handler = async (args) => ({ sent: true, to: args.user })

/** Submits `count` tasks to a fresh durable queue (one at a time, or in batches) and awaits every result. */
async function runOurs(redis, name, count, batched) {
  const queue = new DurableTaskQueue({
    redis: { url: redis.url },
    name,
    concurrency: CONCURRENCY,
    handlers: { send: handler },
  })
  const start = process.hrtime.bigint()
  const results = []
  if (batched) {
    for (let i = 0; i < count; i += BATCH) {
      const specs = []
      for (let j = i; j < Math.min(count, i + BATCH); j++) specs.push({ name: 'send', args: argsOf(j) })
      for (const handle of await queue.submitBatch(specs)) results.push(handle.result)
    }
  } else {
    const handles = []
    for (let i = 0; i < count; i++) handles.push(queue.submit({ name: 'send', args: argsOf(i) }))
    for (const handle of await Promise.all(handles)) results.push(handle.result)
  }
  const values = await Promise.all(results)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (values.length !== count || values.some((v) => v.sent !== true)) throw new Error('optlayer lost results')
  await queue.stop()
  return count / seconds
}

/** The same with BullMQ: Queue.add / addBulk, one Worker, completions counted from its events. */
async function runBullmq(redis, name, count, batched) {
  const connection = { host: REDIS_HOST, port: redis.port, maxRetriesPerRequest: null }
  const queue = new Queue(name, { connection })
  let completed = 0
  let done
  const finished = new Promise((resolve) => (done = resolve))
  const worker = new Worker(name, async (job) => handler(job.data), { connection, concurrency: CONCURRENCY })
  worker.on('completed', (_job, value) => {
    if (value?.sent === true && ++completed === count) done()
  })
  await worker.waitUntilReady()
  const opts = { removeOnComplete: { age: 3600 } }
  const start = process.hrtime.bigint()
  if (batched) {
    for (let i = 0; i < count; i += BATCH) {
      const jobs = []
      for (let j = i; j < Math.min(count, i + BATCH); j++) jobs.push({ name: 'send', data: argsOf(j), opts })
      await queue.addBulk(jobs)
    }
  } else {
    const adds = []
    for (let i = 0; i < count; i++) adds.push(queue.add('send', argsOf(i), opts))
    await Promise.all(adds)
  }
  await finished
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await worker.close()
  await queue.close()
  return count / seconds
}

async function measureCase(redis, label, batched, options, count) {
  const contenders = [
    { name: 'optlayer DurableTaskQueue', role: 'ours', run: runOurs },
    { name: `bullmq ${require('bullmq/package.json').version}`, role: 'peer', run: runBullmq },
  ]
  const perRound = contenders.map(() => [])
  const perTask = contenders.map(() => ({ commands: [], scripts: [], bytes: [], redisCpu: [], nodeCpu: [] }))
  let queueNumber = 0
  // The first round warms up both and is not kept.
  for (let round = -1; round < options.rounds; round++) {
    for (let step = 0; step < contenders.length; step++) {
      const index = (Math.max(round, 0) + step) % contenders.length
      await redis.admin.flushall()
      const before = await redisCounters(redis.admin)
      const redisCpu = processCpuMicros(redis.pid)
      const nodeCpu = process.cpuUsage()
      const hz = await contenders[index].run(redis, `bench-${batched ? 'b' : 's'}-${queueNumber++}`, count, batched)
      const nodeCpuUsed = process.cpuUsage(nodeCpu)
      const redisCpuUsed = processCpuMicros(redis.pid) - redisCpu
      const after = await redisCounters(redis.admin)
      if (round < 0) continue
      perRound[index].push(hz)
      perTask[index].commands.push((after.commands - before.commands) / count)
      perTask[index].scripts.push((after.scripts - before.scripts) / count)
      perTask[index].bytes.push((after.memory - before.memory) / count)
      perTask[index].redisCpu.push(redisCpuUsed / count)
      perTask[index].nodeCpu.push((nodeCpuUsed.user + nodeCpuUsed.system) / count)
    }
  }
  const ratios = perRound[0].map((hz, round) => hz / perRound[1][round])
  return {
    name: label,
    tasks: count,
    contenders: contenders.map((c, i) => ({
      name: c.name,
      role: c.role,
      tasksPerSecond: { median: median(perRound[i]), min: Math.min(...perRound[i]), max: Math.max(...perRound[i]) },
      perRound: perRound[i],
      redisCommandsPerTask: median(perTask[i].commands),
      scriptCallsPerTask: median(perTask[i].scripts),
      redisBytesPerFinishedTask: median(perTask[i].bytes),
      redisCpuMicrosPerTask: median(perTask[i].redisCpu),
      nodeCpuMicrosPerTask: median(perTask[i].nodeCpu),
    })),
    oursVsBullmq: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  }
}

async function run(options) {
  const count = options.quick ? 1000 : 5000
  const server = await startRedis()
  const admin = new Redis(server.url)
  const redis = { ...server, admin }
  const started = Date.now()
  const cases = []
  try {
    cases.push(await measureCase(redis, `${count} single submits, concurrency ${CONCURRENCY}`, false, options, count))
    cases.push(
      await measureCase(
        redis,
        `${count} submits in batches of ${BATCH}, concurrency ${CONCURRENCY}`,
        true,
        options,
        count,
      ),
    )
  } finally {
    admin.disconnect()
    await server.stop()
  }
  console.log(`\ndurable queue: tasks/s (submit + complete), redis-server on 127.0.0.1 sharing the cores`)
  printTable(
    [
      'case',
      'contender',
      'tasks/s',
      'min-max',
      'redis cmds/task',
      'scripts/task',
      'redis B/task kept',
      'redis CPU µs/task',
      'node CPU µs/task',
      'x bullmq',
    ],
    cases.flatMap((c) =>
      c.contenders.map((k) => [
        c.name,
        k.name,
        formatNumber(k.tasksPerSecond.median),
        `${formatNumber(k.tasksPerSecond.min)}-${formatNumber(k.tasksPerSecond.max)}`,
        formatNumber(k.redisCommandsPerTask),
        formatNumber(k.scriptCallsPerTask),
        formatNumber(k.redisBytesPerFinishedTask),
        formatNumber(k.redisCpuMicrosPerTask),
        formatNumber(k.nodeCpuMicrosPerTask),
        k.role === 'ours' ? c.oursVsBullmq.median.toFixed(2) : '1.00',
      ]),
    ),
  )
  const figures = cases.map((c) => ({
    target: `≥ ${TARGET_VS_BULLMQ.toFixed(1)}× BullMQ tasks/s (submit + complete)`,
    subject: c.name,
    display: `${c.oursVsBullmq.median.toFixed(2)}× (${c.oursVsBullmq.min.toFixed(2)}–${c.oursVsBullmq.max.toFixed(2)}); ${formatNumber(c.contenders[0].tasksPerSecond.median)} vs ${formatNumber(c.contenders[1].tasksPerSecond.median)} tasks/s`,
    met: c.oursVsBullmq.median >= TARGET_VS_BULLMQ,
  }))
  const file = writeResults('queue-durable', {
    packages: ['bullmq', 'ioredis'],
    parameters: {
      ...options,
      tasksPerRun: count,
      concurrency: CONCURRENCY,
      batch: BATCH,
      targetVsBullmq: TARGET_VS_BULLMQ,
      elapsedSeconds: (Date.now() - started) / 1000,
    },
    cases,
    figures,
    readmeTable: figureTable(figures),
    notes: [
      'One process runs producer and consumer of each contender; redis-server shares the 2 cores with it.',
      'Ours: one Lua script per consumer round trip acknowledges the finished tasks and claims up to the free slots; concurrent submits are coalesced into one script call. BullMQ: one script per add and moveToFinished (which also fetches the next job).',
      "BullMQ completions are counted from the Worker's events; ours are awaited through each task's result promise.",
      'CPU per task (redis-server from /proc at 10 ms resolution, this process from process.cpuUsage) depends less on the load of the shared machine than tasks/s.',
      'redisBytesPerFinishedTask: Redis used_memory after a run (finished tasks kept for an hour by both) minus before, per task.',
    ],
  })
  console.log(`results written to ${path.relative(process.cwd(), file)}`)
}

module.exports = { run }

runIfMain(module, run)
