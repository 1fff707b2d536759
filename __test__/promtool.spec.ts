import { spawn, spawnSync } from 'node:child_process'

import test from 'ava'
import { Compressor, OptlayerServer, RateLimiter } from 'optlayer'

/** Runs `promtool check metrics` on `text`; resolves with its exit code and everything it printed. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
    child.stdin.end(text)
  })
}

test('/metrics passes promtool check metrics with traffic, rate-limit and codec metrics present', async (t) => {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (found.error !== undefined) {
    t.fail('promtool is missing: run `bash scripts/ensure-monitoring-tools.sh` (Debian package prometheus)')
    return
  }
  const rateLimiter = new RateLimiter({ algorithm: 'fixed-window', limit: 4, windowMs: 60_000, name: 'promtool' })
  const server = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 }, rateLimiter })
  const url = await server.listen()
  const admin = server.adminUrl
  t.teardown(async () => {
    await server.close()
    await rateLimiter.close()
  })

  const statuses: number[] = []
  const targets = [
    ...['/health', '/health'].map((path) => new URL(path, url)),
    new URL('/metrics', admin),
    ...['/nope', '/nope', '/nope', '/nope'].map((path) => new URL(path, url)),
    ...['/alerts', '/dashboard/data'].map((path) => new URL(path, admin)),
    ...['/nope', '/nope'].map((path) => new URL(path, url)),
  ]
  for (const target of targets) {
    const res = await fetch(target)
    statuses.push(res.status)
    await res.arrayBuffer()
  }
  t.deepEqual(statuses, [200, 200, 200, 404, 404, 404, 404, 200, 200, 429, 429], 'some allowed, some refused')
  const input = Buffer.from(JSON.stringify({ hello: 'world' }).repeat(200))
  for (const algorithm of ['gzip', 'zstd', 'br'] as const) {
    t.deepEqual(Compressor.decompress(Compressor.compress(input, algorithm), algorithm), input)
  }

  const text = await server.metrics.expose()
  t.regex(text, /^optlayer_ratelimit_decisions_total\{limiter="promtool",source="local",outcome="denied"\} 2$/m)
  t.regex(text, /^optlayer_codec_calls_total\{operation="compress",algorithm="zstd"\} [1-9]/m)
  t.regex(text, /^optlayer_request_duration_seconds_count\{outcome="ok"\} [1-9]/m)

  const { code, output } = await promtoolCheck(text)
  t.is(output.trim(), '', 'promtool reports no problem')
  t.is(code, 0)
})
