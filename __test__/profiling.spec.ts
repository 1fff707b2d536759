import { gunzipSync } from 'node:zlib'

import test from 'ava'
import { configFromEnv, OptlayerServer, pprofAvailable, ProfilingServer, startProfilingServer } from 'optlayer'
import protobuf from 'protobufjs'

// The fields of pprof's profile.proto (github.com/google/pprof/proto/profile.proto) the tests read.
const PPROF_SCHEMA = `
syntax = "proto3";
message ValueType { int64 type = 1; int64 unit = 2; }
message Sample { repeated uint64 location_id = 1; repeated int64 value = 2; }
message Line { uint64 function_id = 1; int64 line = 2; }
message Location { uint64 id = 1; uint64 mapping_id = 2; uint64 address = 3; repeated Line line = 4; }
message Function { uint64 id = 1; int64 name = 2; int64 system_name = 3; int64 filename = 4; int64 start_line = 5; }
message Profile {
  repeated ValueType sample_type = 1;
  repeated Sample sample = 2;
  repeated Location location = 4;
  repeated Function function = 5;
  repeated string string_table = 6;
  int64 duration_nanos = 10;
}
`
const Profile = protobuf.parse(PPROF_SCHEMA, { keepCase: true }).root.lookupType('Profile')

interface DecodedProfile {
  sample_type: { type: number; unit: number }[]
  sample: { value: number[] }[]
  function: { name: number }[]
  string_table: string[]
}

function decodePprof(body: Buffer): DecodedProfile {
  assertGzip(body)
  return Profile.toObject(Profile.decode(gunzipSync(body)), { longs: Number, defaults: true }) as DecodedProfile
}

function assertGzip(body: Buffer): void {
  if (body[0] !== 0x1f || body[1] !== 0x8b) throw new Error('a pprof profile is gzipped protobuf')
}

/** Keeps the CPU busy in a function the profile should name, yielding so the server can answer. */
async function burnCpuForProfile(ms: number): Promise<number> {
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) {
    const sliceEnd = Math.min(end, Date.now() + 20)
    while (Date.now() < sliceEnd) x += Math.sqrt(x + 1)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return x
}

const AUTH = { authorization: 'Bearer s3cret' }

test.serial('without the token every endpoint answers 401; with it, 404 and 405 as usual', async (t) => {
  const server = new ProfilingServer({ port: 0, token: 's3cret', format: 'devtools' })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.is(url.hostname, '127.0.0.1', 'loopback by default')
  for (const headers of [
    {} as Record<string, string>,
    { authorization: 'Bearer wrong' },
    { authorization: 'Bearer s3cret2' },
    { authorization: 's3cret' },
    { authorization: 'Basic czNjcmV0' },
  ]) {
    for (const path of ['/debug/pprof/heap', '/debug/pprof/profile?seconds=1', '/debug/pprof/handles', '/nope']) {
      const res = await fetch(new URL(path, url), { headers })
      t.is(res.status, 401, `${path} with ${JSON.stringify(headers)}`)
      t.is(res.headers.get('www-authenticate'), 'Bearer realm="optlayer-profiling"')
      await res.arrayBuffer()
    }
  }
  t.is((await fetch(new URL('/nope', url), { headers: AUTH })).status, 404)
  const post = await fetch(new URL('/debug/pprof/heap', url), { method: 'POST', headers: AUTH })
  t.is(post.status, 405)
  const index = (await (await fetch(new URL('/debug/pprof/', url), { headers: AUTH })).json()) as { format: string }
  t.is(index.format, 'devtools')
})

test.serial('DevTools format: a .cpuprofile naming the busy function, one at a time, seconds bounded', async (t) => {
  const server = new ProfilingServer({ port: 0, token: 's3cret', format: 'devtools', maxSeconds: 5 })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.is(server.format, 'devtools')

  for (const seconds of ['0', '6', 'abc', '1.5', '-1']) {
    const res = await fetch(new URL(`/debug/pprof/profile?seconds=${seconds}`, url), { headers: AUTH })
    t.is(res.status, 400, `seconds=${seconds}`)
    t.regex(((await res.json()) as { error: string }).error, /expected an integer between 1 and 5/)
  }

  const profiling = fetch(new URL('/debug/pprof/profile?seconds=1', url), { headers: AUTH })
  await new Promise((resolve) => setTimeout(resolve, 100))
  const second = await fetch(new URL('/debug/pprof/profile?seconds=1', url), { headers: AUTH })
  t.is(second.status, 409, 'one CPU profile at a time')
  await second.arrayBuffer()
  await burnCpuForProfile(600)
  const res = await profiling
  t.is(res.status, 200)
  t.regex(res.headers.get('content-disposition') ?? '', /cpu\.cpuprofile/)
  const profile = (await res.json()) as {
    nodes: { id: number; callFrame: { functionName: string } }[]
    samples: number[]
    timeDeltas: number[]
    startTime: number
    endTime: number
  }
  t.true(profile.nodes.length > 1)
  t.true(profile.samples.length > 0)
  t.is(profile.samples.length, profile.timeDeltas.length)
  t.true(profile.endTime > profile.startTime)
  t.true(
    profile.nodes.some((node) => node.callFrame.functionName === 'burnCpuForProfile'),
    'the busy function was sampled',
  )
})

test.serial('a client that goes away stops its CPU profile and frees the slot', async (t) => {
  const server = new ProfilingServer({ port: 0, format: 'devtools', maxSeconds: 30 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const abort = new AbortController()
  const abandoned = fetch(new URL('/debug/pprof/profile?seconds=30', url), { signal: abort.signal })
  await new Promise((resolve) => setTimeout(resolve, 150))
  abort.abort()
  t.is(((await abandoned.catch((err: unknown) => err)) as { name?: string }).name, 'AbortError')
  let status = 409
  for (let attempt = 0; attempt < 50 && status === 409; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    const res = await fetch(new URL('/debug/pprof/profile?seconds=1', url))
    status = res.status
    await res.arrayBuffer()
  }
  t.is(status, 200, 'a new profile could start long before the 30 s of the abandoned one')
})

test.serial('DevTools format: a sampled heap profile, and the handles dump', async (t) => {
  const server = new ProfilingServer({ port: 0, format: 'devtools', heapSamplingIntervalBytes: 4096 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const retained: number[][] = []
  for (let i = 0; i < 2000; i++) retained.push(new Array<number>(64).fill(i))

  const heap = await fetch(new URL('/debug/pprof/heap', url))
  t.is(heap.status, 200)
  t.regex(heap.headers.get('content-disposition') ?? '', /heap\.heapprofile/)
  const profile = (await heap.json()) as { head: { children: unknown[] }; samples: { size: number }[] }
  t.true(profile.head.children.length > 0)
  t.true(profile.samples.length > 0)
  t.true(profile.samples.every((sample) => sample.size > 0))
  t.is(retained.length, 2000)

  const handles = (await (await fetch(new URL('/debug/pprof/handles', url))).json()) as {
    pid: number
    resources: Record<string, number>
    handles: { type: string; address?: { port: number } }[]
  }
  t.is(handles.pid, process.pid)
  t.true((handles.resources['TCPServerWrap'] ?? 0) >= 1, JSON.stringify(handles.resources))
  t.true(
    handles.handles.some((h) => h.type === 'Server' && h.address?.port === Number(url.port)),
    'the profiling server itself is listed with its address',
  )
})

const withPprof = pprofAvailable() ? test.serial : test.skip

withPprof('pprof format (@datadog/pprof): CPU and heap profiles decode as profile.proto', async (t) => {
  const server = new ProfilingServer({ port: 0, token: 's3cret', format: 'pprof', heapSamplingIntervalBytes: 4096 })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.is(server.format, 'pprof')

  const cpu = fetch(new URL('/debug/pprof/profile?seconds=1', url), { headers: AUTH })
  await burnCpuForProfile(700)
  const res = await cpu
  t.is(res.status, 200)
  t.is(res.headers.get('content-type'), 'application/octet-stream')
  const profile = decodePprof(Buffer.from(await res.arrayBuffer()))
  const types = profile.sample_type.map((v) => `${profile.string_table[v.type]}/${profile.string_table[v.unit]}`)
  t.true(types.includes('wall/nanoseconds'), types.join(' '))
  t.true(profile.sample.length > 0)
  t.true(profile.function.some((f) => profile.string_table[f.name] === 'burnCpuForProfile'))

  const retained = Array.from({ length: 2000 }, (_, i) => ({ i, payload: 'x'.repeat(64) }))
  const heap = await fetch(new URL('/debug/pprof/heap', url), { headers: AUTH })
  t.is(heap.status, 200)
  const heapProfile = decodePprof(Buffer.from(await heap.arrayBuffer()))
  const heapTypes = heapProfile.sample_type.map(
    (v) => `${heapProfile.string_table[v.type]}/${heapProfile.string_table[v.unit]}`,
  )
  t.deepEqual(heapTypes, ['inuse_objects/count', 'inuse_space/bytes'])
  t.true(heapProfile.sample.length > 0)
  t.is(retained.length, 2000)
})

test.serial('profiling is off unless configured: nothing listens and the gateway has no /debug/pprof', async (t) => {
  t.is(await startProfilingServer(configFromEnv({}).profiling), undefined)
  const gateway = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 } })
  const url = await gateway.listen()
  t.teardown(() => gateway.close())
  for (const base of [url, gateway.adminUrl]) {
    for (const path of [
      '/debug/pprof/',
      '/debug/pprof/profile?seconds=1',
      '/debug/pprof/heap',
      '/debug/pprof/handles',
    ]) {
      t.is((await fetch(new URL(path, base))).status, 404, path)
    }
  }
})

test.serial('startProfilingServer follows ENABLE_PROFILING, PROFILING_PORT and PROFILING_TOKEN', async (t) => {
  const warnings: string[] = []
  const started = await startProfilingServer(
    configFromEnv({ ENABLE_PROFILING: 'true', PROFILING_PORT: '0', PROFILING_TOKEN: 'env-token' }).profiling,
    { warn: (message) => warnings.push(message) },
  )
  t.truthy(started)
  if (started === undefined) return
  t.teardown(() => started.server.close())
  t.is(started.url.hostname, '127.0.0.1')
  t.is((await fetch(new URL('/debug/pprof/handles', started.url))).status, 401)
  const ok = await fetch(new URL('/debug/pprof/handles', started.url), {
    headers: { authorization: 'Bearer env-token' },
  })
  t.is(ok.status, 200)
  t.deepEqual(warnings, [])

  const open = await startProfilingServer(
    configFromEnv({ ENABLE_PROFILING: 'true', PROFILING_PORT: '0', PROFILING_HOST: '0.0.0.0' }).profiling,
    { warn: (message) => warnings.push(message), format: 'devtools' },
  )
  t.teardown(() => open?.server.close())
  t.is(warnings.length, 1)
  t.regex(warnings[0] ?? '', /beyond loopback without PROFILING_TOKEN/)
})

test.serial('options are validated', (t) => {
  for (const options of [
    { port: 70000 },
    { maxSeconds: 0 },
    { defaultSeconds: 100, maxSeconds: 10 },
    { token: '' },
    { format: 'svg' },
    { heapSamplingIntervalBytes: 0 },
  ]) {
    t.throws(() => new ProfilingServer(options as never), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  }
})
