import test from 'ava'
import { Registry } from 'prom-client'

import {
  AlertManager,
  chooseCompression,
  Compressor,
  compressedSerializer,
  jsonSerializer,
  ZstdDictionary,
  ZstdPatch,
  CircuitBreaker,
  DashboardData,
  FleetAggregator,
  LatencyHistogram,
  MetricReader,
  MetricsCollector,
  MetricSources,
  OptlayerServer,
  ProfilingServer,
  ConnectionPool,
  DistributedCache,
  DurableTaskQueue,
  Gateway,
  OptimizationLayer,
  httpUpstream,
  InvalidArgumentError,
  LeaseBatcher,
  LoadBalancer,
  RateLimiter,
  RedisRateLimitStore,
  RetryBudget,
  TaskQueue,
  tcpResourceFactory,
} from 'optlayer'

// A misspelt or unsupported option would otherwise be ignored and its default used in silence.
// Each row builds a component with one wrong option name; the error must name that option.
const cases: [string, () => unknown, string][] = [
  ['ConnectionPool', () => new ConnectionPool({ create: () => ({}), maxSize: 4 } as never), 'maxSize'],
  [
    'ConnectionPool breaker',
    () => new ConnectionPool({ create: () => ({}), breaker: { openMS: 5 } } as never),
    'openMS',
  ],
  // The pool gives its breaker its own clock: a breaker clock of the caller's would be dropped.
  [
    'ConnectionPool breaker clock',
    () => new ConnectionPool({ create: () => ({}), breaker: { now: () => 0 } } as never),
    'now',
  ],
  ['httpUpstream', () => httpUpstream('http://127.0.0.1:1', { timeoutMs: 5 } as never), 'timeoutMs'],
  ['CircuitBreaker', () => new CircuitBreaker({ threshold: 3 } as never), 'threshold'],
  ['LoadBalancer', () => new LoadBalancer({ algorithim: 'round-robin' } as never), 'algorithim'],
  [
    'LoadBalancer backend',
    () => new LoadBalancer({ backends: [{ id: 'a', url: 'http://a', wieght: 2 }] } as never),
    'wieght',
  ],
  ['LoadBalancer healthCheck', () => new LoadBalancer({ healthCheck: { interval: 5 } } as never), 'interval'],
  ['LoadBalancer outlierDetection', () => new LoadBalancer({ outlierDetection: { failures: 5 } } as never), 'failures'],
  ['LoadBalancer circuitBreaker', () => new LoadBalancer({ circuitBreaker: { open: 5 } } as never), 'open'],
  ['LoadBalancer retryBudget', () => new LoadBalancer({ retryBudget: { ratioo: 0.1 } } as never), 'ratioo'],
  ['DistributedCache', () => new DistributedCache({ defaultTtl: 5 } as never), 'defaultTtl'],
  ['DistributedCache l1', () => new DistributedCache({ l1: { maxEntry: 5 } } as never), 'maxEntry'],
  ['DistributedCache l2', () => new DistributedCache({ l2: { maxSize: 5 } } as never), 'maxSize'],
  ['DistributedCache l3', () => new DistributedCache({ l3: { compressAbove: 5 } } as never), 'compressAbove'],
  [
    'DistributedCache redis',
    () => new DistributedCache({ redis: { nodes: ['redis://127.0.0.1:1'], db: 2 } } as never),
    'db',
  ],
  [
    'DistributedCache redis url',
    () => new DistributedCache({ redis: { url: 'redis://127.0.0.1:1', password: 'x' } } as never),
    'password',
  ],
  ['DistributedCache earlyRefresh', () => new DistributedCache({ earlyRefresh: { beat: 2 } } as never), 'beat'],
  ['DistributedCache lease', () => new DistributedCache({ lease: { ttl: 5 } } as never), 'ttl'],
  ['DistributedCache bloom', () => new DistributedCache({ bloom: { expectedItems: 10, fpr: 0.1 } } as never), 'fpr'],
  ['DistributedCache outageJournal', () => new DistributedCache({ outageJournal: { maxKey: 5 } } as never), 'maxKey'],
  ['TaskQueue', () => new TaskQueue({ maxWorker: 4 } as never), 'maxWorker'],
  ['TaskQueue backoff', () => new TaskQueue({ backoff: { initialDelayMs: 5 } } as never), 'initialDelayMs'],
  [
    'DurableTaskQueue',
    () => new DurableTaskQueue({ redis: { url: 'redis://127.0.0.1:1' }, concurency: 2 } as never),
    'concurency',
  ],
  [
    'DurableTaskQueue redis client',
    () => new DurableTaskQueue({ redis: { client: {}, url: 'redis://127.0.0.1:1' } } as never),
    'url',
  ],
  ['MetricsCollector', () => new MetricsCollector({ defaultMetrics: false, rateWindow: 5 } as never), 'rateWindow'],
  ['LatencyHistogram', () => new LatencyHistogram({ highest: 5 } as never), 'highest'],
  ['AlertManager', () => new AlertManager({ rules: [], interval: 5 } as never), 'interval'],
  [
    'AlertManager rule',
    () => new AlertManager({ rules: [{ name: 'a', source: () => 1, threshold: 1, for: 5 }] } as never),
    'for',
  ],
  ['MetricReader', () => new MetricReader(new Registry(), { maxAge: 5 } as never), 'maxAge'],
  ['MetricSources', () => new MetricSources(new Registry(), { window: 5 } as never), 'window'],
  ['MetricSources names', () => new MetricSources(new Registry(), { names: { latency: 'x' } } as never), 'latency'],
  ['DashboardData', () => new DashboardData(new Registry(), { history: 5 } as never), 'history'],
  ['FleetAggregator', () => new FleetAggregator({ window: 5 } as never), 'window'],
  ['OptlayerServer', () => new OptlayerServer({ adminPort: 0 } as never), 'adminPort'],
  ['OptlayerServer admin', () => new OptlayerServer({ admin: { tokn: 'x' } } as never), 'tokn'],
  ['OptlayerServer http', () => new OptlayerServer({ http: { maxHeaders: 5 } } as never), 'maxHeaders'],
  ['OptlayerServer dashboard', () => new OptlayerServer({ dashboard: { prefix: 'x_' } } as never), 'prefix'],
  ['Compressor.compress', () => Compressor.compress('x', 'zstd', { lvl: 3 } as never), 'lvl'],
  [
    'Compressor.decompress',
    () => Compressor.decompress(Compressor.compress('x', 'zstd'), 'zstd', { maxOutput: 5 } as never),
    'maxOutput',
  ],
  ['Compressor.compressBound', () => Compressor.compressBound('zstd', 5, { level: 3 } as never), 'level'],
  [
    'chooseCompression',
    () => chooseCompression(Buffer.alloc(2048), { acceptEncoding: 'br' } as never),
    'acceptEncoding',
  ],
  ['compressedSerializer', () => compressedSerializer(jsonSerializer, { codec: 'zstd' } as never), 'codec'],
  ['ZstdPatch.create', () => ZstdPatch.create('a', 'b', { lvl: 3 } as never), 'lvl'],
  ['ZstdDictionary.train', () => ZstdDictionary.train(['a'], { size: 3 } as never), 'size'],
  ['tcpResourceFactory', () => tcpResourceFactory({ host: 'localhost', port: 1, timeoutMs: 5 } as never), 'timeoutMs'],
  ['ProfilingServer', () => new ProfilingServer({ seconds: 5 } as never), 'seconds'],
  ['RetryBudget', () => new RetryBudget({ window: 5 } as never), 'window'],
  ['RateLimiter (local)', () => new RateLimiter({ limit: 5, window: 1000 } as never), 'window'],
  ['RateLimiter (adaptive)', () => new RateLimiter({ algorithm: 'adaptive', limit: 5, maxKey: 9 } as never), 'maxKey'],
  [
    'RateLimiter (adaptive) adaptive options',
    () =>
      new RateLimiter({ algorithm: 'adaptive', limit: 5, adaptive: { algorithm: 'gradient', smooth: 0.5 } } as never),
    'smooth',
  ],
  [
    'RateLimiter (adaptive) breaker',
    () => new RateLimiter({ algorithm: 'adaptive', limit: 5, breaker: { failures: 3 } } as never),
    'failures',
  ],
  // Refused before any connection is made, so no Redis is needed.
  [
    'RateLimiter (redis)',
    () => new RateLimiter({ limit: 5, redis: { url: 'redis://127.0.0.1:1' }, timeout: 5 } as never),
    'timeout',
  ],
  [
    'RateLimiter redis address',
    () => new RateLimiter({ limit: 5, redis: { url: 'redis://127.0.0.1:1', tls: {} } } as never),
    'tls',
  ],
  [
    'RedisRateLimitStore',
    () =>
      new RedisRateLimitStore({
        algorithm: 'gcra',
        limit: 5,
        windowMs: 1000,
        redis: { url: 'redis://127.0.0.1:1' },
        key: 'k',
      } as never),
    'key',
  ],
  ['LeaseBatcher', () => new LeaseBatcher({} as never, { batch: 5 } as never), 'batch'],
  ['OptimizationLayer', () => new OptimizationLayer({ processor: () => 1, ttl: 5 } as never), 'ttl'],
  [
    'OptimizationLayer rateLimit',
    () => new OptimizationLayer({ processor: () => 1, rateLimit: { limt: 5 } } as never),
    'limt',
  ],
  [
    'OptimizationLayer queue',
    () => new OptimizationLayer({ processor: () => 1, queue: { maxWorker: 5 } } as never),
    'maxWorker',
  ],
  ['Gateway', () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], maxInflight: 5 } as never), 'maxInflight'],
  ['Gateway backends', () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1', wieght: 2 }] } as never), 'wieght'],
  [
    'Gateway balancer',
    () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], balancer: { algo: 'x' } } as never),
    'algo',
  ],
  [
    'Gateway upstream',
    () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], upstream: { connections: 5 } } as never),
    'connections',
  ],
  [
    'Gateway rateLimit',
    () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], rateLimit: { limt: 5 } } as never),
    'limt',
  ],
  [
    'Gateway cache',
    () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], cache: { defaultTtl: 5 } } as never),
    'defaultTtl',
  ],
  [
    'Gateway httpCache',
    () => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], httpCache: { prefix: 'x' } } as never),
    'prefix',
  ],
]

for (const [what, make, name] of cases) {
  test(`${what} refuses an unknown option and names it`, (t) => {
    t.throws(make, { instanceOf: InvalidArgumentError, message: new RegExp(`unknown option '${name}'`) })
  })
}

test('every unknown option is named at once, with the known ones', (t) => {
  const error = t.throws(() => new CircuitBreaker({ threshold: 3, open: 1 } as never), {
    instanceOf: InvalidArgumentError,
  })
  t.regex(
    error.message,
    /unknown options 'threshold', 'open'; did you mean 'openMs' for 'open'\? \(known: consecutiveFailures, /,
  )
})

test('Gateway.close() with an unknown option is refused and the gateway keeps serving', async (t) => {
  const gateway = new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }] })
  await t.throwsAsync(gateway.close({ timeout: 5 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'timeout'/,
  })
  t.true(gateway.health().ok)
  await gateway.close()
})

test('TaskQueue.stop() with an unknown option is refused and the queue keeps running', async (t) => {
  const queue = new TaskQueue()
  await t.throwsAsync(queue.stop({ drainTimeoutMs: 5 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'drainTimeoutMs'/,
  })
  t.is(await queue.submit({ name: 'ok', run: () => 1 }).result, 1)
  await queue.stop()
})

test('Compressor async calls with an unknown option reject naming it', async (t) => {
  await t.throwsAsync(Compressor.compressAsync('x', 'zstd', { singal: undefined } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'singal'/,
  })
  await t.throwsAsync(Compressor.decompressAsync(Buffer.alloc(1), 'zstd', { level: 3 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'level'/,
  })
})

test('LoadBalancer.retry() with an unknown option is refused before any attempt', async (t) => {
  const lb = new LoadBalancer({ backends: [{ id: 'a', url: 'http://a' }] })
  let calls = 0
  await t.throwsAsync(
    lb.retry(() => ++calls, { attempts: 3 } as never),
    { instanceOf: InvalidArgumentError, message: /unknown option 'attempts'/ },
  )
  t.is(calls, 0)
  await lb.close()
})

test('the monitoring components take their clock as now, and the deprecated clock for one more release', async (t) => {
  const registry = new Registry()
  const at = (ms: number) => () => ms
  t.is((await new DashboardData(registry, { now: at(1_000) }).build()).generatedAt, 1_000)
  t.is((await new DashboardData(registry, { clock: at(2_000) }).build()).generatedAt, 2_000)
  const manager = new AlertManager({
    rules: [{ name: 'a', source: () => 2, threshold: 1 }],
    now: at(3_000),
    log: false,
  })
  t.is((await manager.evaluate()).evaluatedAt, new Date(3_000).toISOString())
  await manager.close()
  // Both at once: one would be ignored without a word.
  t.throws(() => new MetricsCollector({ defaultMetrics: false, now: at(1), clock: at(2) }), {
    instanceOf: InvalidArgumentError,
    message: /invalid clock: the deprecated name of now/,
  })
  t.throws(() => new MetricsCollector({ defaultMetrics: false, now: 5 as never }), {
    instanceOf: InvalidArgumentError,
    message: /invalid now: expected a function, got number/,
  })
})

test('an unknown option name close to a known one is answered with that name', (t) => {
  t.throws(() => new TaskQueue({ maxWorker: 4 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'maxWorker'; did you mean 'maxWorkers'\? \(known: /,
  })
  t.throws(() => new DistributedCache({ defaultTtl: 5 } as never), {
    message: /unknown option 'defaultTtl'; did you mean 'defaultTtlMs'\?/,
  })
  t.throws(() => new DistributedCache({ l1: { maxentries: 5 } } as never), {
    message: /unknown option 'maxentries'; did you mean 'maxEntries'\?/,
  })
  const far = t.throws(() => new DistributedCache({ bogusOption: 1 } as never), { instanceOf: InvalidArgumentError })
  t.regex(far.message, /unknown option 'bogusOption' \(known: /, 'no name is near enough to suggest')
  const two = t.throws(() => new CircuitBreaker({ threshold: 3, openM: 1 } as never), {
    instanceOf: InvalidArgumentError,
  })
  t.regex(two.message, /unknown options 'threshold', 'openM'; did you mean 'openMs' for 'openM'\? \(known: /)
})
