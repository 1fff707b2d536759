import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'

import { slowloris } from './helpers/slow-client'

const cli = join(__dirname, '..', 'dist', 'cli.js')
const WORKERS = 2
/** The documented staleness bound is about two push intervals (1 s each) plus IPC: wait a bit more. */
const SETTLE_MS = 2_600

/** A GET on a new connection each time, so the cluster's round robin spreads them over the workers. */
function fetchText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    }).on('error', reject)
  })
}

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** `optlayer serve` with WORKERS=2 on free ports; resolves once every worker listens. */
function serveFleet(t: { teardown(fn: () => void): void }, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: { ...process.env, WORKERS: String(WORKERS), PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', ...env },
  })
  t.teardown(() => child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const workerPids = new Map<string, number>()
  const adminLines = new Set<string>()
  /** Resolves with the public and the admin origin once every worker has printed both. */
  const listening = new Promise<{ origin: string; admin: string }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      for (const [, , id, pid] of stdout.matchAll(/listening on (http:\/\/\S+) \(worker (\d+), pid (\d+)\)/g)) {
        workerPids.set(id ?? '', Number(pid))
      }
      for (const [, id] of stdout.matchAll(/\(worker (\d+), pid \d+\): admin routes on http/g)) adminLines.add(id ?? '')
      const origin = /listening on (http:\/\/\S+) \(worker/.exec(stdout)?.[1]
      const admin = /admin routes on (http:\/\/\S+)/.exec(stdout)?.[1]
      if (origin !== undefined && admin !== undefined && workerPids.size >= WORKERS && adminLines.size >= WORKERS) {
        resolve({ origin, admin })
      }
    })
    void exited.then(() => reject(new Error(`optlayer serve exited early: ${stderr}`)))
  })
  return { child, listening, exited, workerPids, output: () => ({ stdout, stderr }) }
}

/**
 * Scrapes until the fleet's request count equals `expected(scrapesBefore)`: every finished
 * request, earlier scrapes included. Waits out the staleness bound between scrapes.
 */
async function settledCount(origin: string, expected: (scrapesBefore: number) => number): Promise<string> {
  let last = ''
  for (let scrape = 0; scrape < 6; scrape++) {
    await sleep(SETTLE_MS)
    const { status, text } = await fetchText(`${origin}/metrics`)
    if (status !== 200) throw new Error(`/metrics answered ${status}`)
    last = text
    if (sample(text, 'optlayer_requests_total') === expected(scrape)) return text
  }
  throw new Error(`fleet count never settled; last scrape:\n${last}`)
}

test('WORKERS=2: /metrics on any worker reports the fleet totals; workers are replaced; SIGTERM stops all', async (t) => {
  const fleet = serveFleet(t, { HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' })
  const { origin, admin } = await fleet.listening
  t.is(fleet.workerPids.size, WORKERS)

  // Every worker has the single process's protections: connections alternate between the
  // workers, so two of each reach both.
  for (let i = 0; i < WORKERS * 2; i++)
    t.is((await fetchText(`${origin}/metrics`)).status, 404, 'not on the public port')
  const slow = await Promise.all(Array.from({ length: WORKERS * 2 }, () => slowloris(new URL(origin))))
  for (const { closedByServer, openMs } of slow) t.true(closedByServer && openMs < 5_000, `closed after ${openMs} ms`)
  const probes = WORKERS * 2

  const requests = 40
  for (let i = 0; i < requests; i++) t.is((await fetchText(`${origin}/health`)).status, 200)
  let scrapes = 0
  const text = await settledCount(admin, (before) => {
    scrapes = before + 1
    return requests + probes + before
  })
  t.is(sample(text, 'optlayer_fleet_workers'), WORKERS)
  t.is(sample(text, 'optlayer_request_duration_seconds_count', '{outcome="ok"}'), requests + probes + scrapes - 1)
  t.true((sample(text, 'optlayer_request_duration_seconds', '{outcome="ok",quantile="0.99"}') ?? NaN) > 0)
  t.true((sample(text, 'optlayer_fleet_snapshot_age_seconds') ?? Infinity) < 2.5)
  // Every sample line is well formed, and each metric family is declared once.
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    t.regex(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+-]+|NaN|Nan|[+-]Inf)$/)
  }
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE '))
  t.is(new Set(types).size, types.length)

  // A worker dies: the primary replaces it and the fleet total does not go backwards. It is
  // killed once it has pushed everything it served (a SIGKILL loses what came after its last push).
  await sleep(SETTLE_MS)
  const [victim] = fleet.workerPids.values()
  process.kill(victim ?? 0, 'SIGKILL')
  await sleep(1_500)
  const more = 10
  for (let i = 0; i < more; i++) t.is((await fetchText(`${origin}/health`)).status, 200)
  const total = requests + probes + scrapes + more
  const afterCrash = await settledCount(admin, (before) => total + before)
  t.is(sample(afterCrash, 'optlayer_fleet_workers'), WORKERS, 'the replacement reports')
  t.regex(fleet.output().stdout, /worker \d+ exited with signal SIGKILL; replacing it/)

  fleet.child.kill('SIGTERM')
  t.is(await fleet.exited, 0)
  const { stdout } = fleet.output()
  t.regex(stdout, /optlayer: SIGTERM received, closing/)
  t.is(stdout.match(/\(worker \d+, pid \d+\): SIGTERM received, closing/g)?.length, WORKERS)
})

test('WORKERS=2 on a port already taken: the primary stops and exits 1 instead of respawning forever', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const { port } = holder.address() as AddressInfo
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: { ...process.env, WORKERS: String(WORKERS), PORT: String(port), HOST: '127.0.0.1' },
  })
  t.teardown(() => child.kill('SIGKILL'))
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const [code] = await once(child, 'exit')
  t.is(code, 1)
  t.regex(output, /EADDRINUSE/)
  t.regex(output, /exited with code 1 before listening; stopping/)
})

test('WORKERS=2 with NATIVE_FRONT: each worker runs a front on the one port; hits are answered natively', async (t) => {
  // A fixed port: with SO_REUSEPORT, port 0 would give each worker a port of its own.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const fleet = serveFleet(t, { PORT: String(port), NATIVE_FRONT: 'true' })
  const { origin, admin } = await fleet.listening
  t.is(origin, `http://127.0.0.1:${port}`)
  const statuses = new Set<number>()
  // New connections each time: the kernel spreads them over both workers' sockets.
  for (let i = 0; i < 20; i++) statuses.add((await fetchText(`${origin}/cacheable`)).status)
  t.deepEqual([...statuses], [200])
  // Every request counted fleet-wide, the front's own answers too (and the scrapes before).
  const text = await settledCount(admin, (before) => 20 + before)
  t.true((sample(text, 'optlayer_front_hits_total', `{port="${port}"}`) ?? 0) > 0, text)
  fleet.child.kill('SIGTERM')
  t.is(await fleet.exited, 0)
})
