'use strict'

// A private, throw-away redis-server for the suites that measure against Redis: a free port
// of 127.0.0.1 (never the machine's own 6379), a temporary directory, no persistence.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')

const REDIS_SERVER_BIN = '/usr/bin/redis-server'
const REDIS_HOST = '127.0.0.1'
const FORBIDDEN_PORTS = new Set([6379, 16379])

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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optlayer-bench-redis-'))
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

/**
 * Redis' counters from INFO: commands processed (a script's own calls included), calls of and
 * time spent in scripts (EVAL and EVALSHA), and memory in use.
 */
async function redisCounters(admin) {
  const [stats, commandstats, memory] = await Promise.all([
    admin.info('stats'),
    admin.info('commandstats'),
    admin.info('memory'),
  ])
  const counters = {
    commands: Number(/total_commands_processed:(\d+)/.exec(stats)[1]),
    scripts: 0,
    scriptMicros: 0,
    memory: Number(/used_memory:(\d+)/.exec(memory)[1]),
  }
  for (const match of commandstats.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+),usec=(\d+)/gm)) {
    counters.scripts += Number(match[1])
    counters.scriptMicros += Number(match[2])
  }
  return counters
}

module.exports = { REDIS_HOST, processCpuMicros, redisCounters, startRedis }
