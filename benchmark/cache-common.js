'use strict'

// Helpers shared by the cache suites (cache.js, cache-hit-ratio.js, cache-gc.js): what was
// measured (commit, changed files, addon build time), whether the DistributedCache facade is
// built yet, a private redis-server on a free port, and ratio spreads.

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const { median } = require('./harness')

const ROOT = path.join(__dirname, '..')
const REDIS_SERVER_BIN = '/usr/bin/redis-server'
const REDIS_HOST = '127.0.0.1'
// The machine's own Redis ports: never started on, never connected to.
const FORBIDDEN_PORTS = new Set([6379, 16379])

/** The commit, the source files changed since (the cache is being written while this runs) and the addon's build time. */
function buildInfo() {
  const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  const addon = fs.readdirSync(ROOT).find((name) => name.endsWith('.node'))
  const distFile = path.join(ROOT, 'dist', 'cache', 'distributed-cache.js')
  return {
    gitHead: git('rev-parse', 'HEAD'),
    changedFiles: git('status', '--porcelain', '--', 'src', 'crates', 'index.js').split('\n').filter(Boolean),
    addon,
    addonBuilt: addon === undefined ? null : fs.statSync(path.join(ROOT, addon)).mtime.toISOString(),
    distributedCacheBuilt: fs.existsSync(distFile) ? fs.statSync(distFile).mtime.toISOString() : null,
  }
}

/** The DistributedCache class when dist/ has it, else undefined (the suites then measure the raw store). */
function loadDistributedCache() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cache', 'distributed-cache.js'))) return undefined
  return require(ROOT).DistributedCache
}

function spread(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) }
}

/** Per-round ratios a[i] / b[i], as a spread: the rounds' drift cancels within each ratio. */
function ratioSpread(a, b) {
  return spread(a.map((value, i) => value / b[i]))
}

const ratioText = (ratio, digits = 2) =>
  `${ratio.median.toFixed(digits)}× (${ratio.min.toFixed(digits)}–${ratio.max.toFixed(digits)})`

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, REDIS_HOST, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Whether something answers PING on `port` with +PONG, over a bare socket. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: REDIS_HOST, port })
    let answer = ''
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
  })
}

/**
 * Starts a throw-away redis-server (no persistence) on a free port of 127.0.0.1, in a
 * temporary directory that stop() removes. The server is killed if this process exits first.
 */
async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optlayer-bench-cache-redis-'))
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    if (FORBIDDEN_PORTS.has(port)) continue
    const args = ['--port', String(port), '--bind', REDIS_HOST, '--protected-mode', 'no', '--save', '']
    args.push('--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', path.join(dir, 'redis.log'))
    const child = spawn(REDIS_SERVER_BIN, args, { cwd: dir, stdio: 'ignore' })
    let exited = false
    child.once('exit', () => {
      exited = true
    })
    const kill = () => {
      if (!exited) child.kill('SIGKILL')
    }
    process.once('exit', kill)
    const server = {
      port,
      pid: child.pid,
      url: `redis://${REDIS_HOST}:${port}`,
      stop: async () => {
        process.off('exit', kill)
        if (!exited) {
          const gone = new Promise((resolve) => child.once('exit', resolve))
          child.kill('SIGTERM')
          await Promise.race([gone, sleep(5000).then(kill)])
        }
        fs.rmSync(dir, { recursive: true, force: true })
      },
    }
    const deadline = Date.now() + 10_000
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) return server
      await sleep(50)
    }
    await server.stop()
    fs.mkdirSync(dir, { recursive: true })
  }
  fs.rmSync(dir, { recursive: true, force: true })
  throw new Error(`could not start ${REDIS_SERVER_BIN} on a free port`)
}

/** CPU time of a process in microseconds, from /proc (10 ms resolution). */
function processCpuMicros(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
}

module.exports = {
  buildInfo,
  loadDistributedCache,
  spread,
  ratioSpread,
  ratioText,
  startRedis,
  processCpuMicros,
}
