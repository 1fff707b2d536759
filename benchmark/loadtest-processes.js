'use strict'

// Processes of the load test: free ports, starting a server and waiting until it answers,
// CPU time of a process and its descendants from /proc, and stopping them.

const fs = require('node:fs')
const net = require('node:net')
const { spawn, spawnSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')

const READY_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000
// Clock ticks per second of /proc/<pid>/stat's utime and stime: Linux's USER_HZ, 100 unless
// getconf says otherwise.
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100

/** A TCP port free on 127.0.0.1 when asked (the kernel's pick for port 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * Spawns `command args` with `env` added to this process's environment; the last 4 KiB of its
 * output are kept for the report when it fails to start.
 */
function startProcess(name, command, args, env = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk) => {
    output = (output + chunk).slice(-4096)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  child.once('error', keep)
  return { name, child, exited, output: () => output }
}

/** Resolves once GET `url` answers (any status) or rejects when the process exits or time runs out. */
async function waitUntilListening(proc, url) {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let exit
  proc.exited.then((result) => (exit = result))
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      throw new Error(`${proc.name} exited (${exit.signal ?? exit.code}) before listening: ${proc.output().trim()}`)
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      return
    } catch {
      await sleep(50)
    }
  }
  throw new Error(`${proc.name} did not answer ${url} within ${READY_TIMEOUT_MS} ms: ${proc.output().trim()}`)
}

/** SIGTERM, then SIGKILL to the process and its descendants if it has not exited in time. */
async function stopProcess(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
  const tree = descendants(proc.child.pid)
  proc.child.kill('SIGTERM')
  const timedOut = await Promise.race([proc.exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)])
  for (const pid of timedOut ? [proc.child.pid, ...tree] : tree) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined // exited in the meantime
  }
}

/** Every live process whose parent chain leads to `root`, not `root` itself. */
function descendants(root) {
  const children = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields === undefined) continue
    const parent = Number(fields[1])
    if (!children.has(parent)) children.set(parent, [])
    children.get(parent).push(Number(entry))
  }
  const found = []
  const stack = [root]
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()) ?? []) {
      found.push(child)
      stack.push(child)
    }
  }
  return found
}

/**
 * User + system CPU time in µs of `root` and its live descendants, by pid, so that a
 * difference of two samples counts only the processes present in both.
 */
function cpuSample(root) {
  const sample = new Map()
  for (const pid of [root, ...descendants(root)]) {
    const fields = statFields(pid)
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    if (fields !== undefined) sample.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS)
  }
  return sample
}

/** CPU µs spent between two samples of cpuSample(). */
function cpuSpentUs(before, after) {
  let spent = 0
  for (const [pid, us] of after) spent += us - (before.get(pid) ?? 0)
  return spent
}

/** /proc/loadavg's three averages. */
function loadAverage() {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
}

module.exports = {
  CLOCK_TICKS,
  freePort,
  startProcess,
  waitUntilListening,
  stopProcess,
  cpuSample,
  cpuSpentUs,
  loadAverage,
}
