import test from 'ava'

import {
  cacheState,
  currentAgeMs,
  freshnessLifetimeMs,
  freshUntilMs,
  staleIfErrorAllowed,
  staleWindowMs,
  type CacheState,
  type FreshnessInput,
  type HeaderList,
  type RequestHeaders,
} from '../../src/gateway/http-cache'

/** The time every response below arrived (a whole second, as HTTP dates are). */
const T = Date.UTC(2026, 0, 10, 12, 0, 0)
const http = (ms: number): string => new Date(ms).toUTCString()
const HOUR = 3_600_000

function response(headers: HeaderList, status = 200, requestTime = T, responseTime = T): FreshnessInput {
  return { status, headers, requestTime, responseTime }
}

const lifetimes: [string, HeaderList, number, number][] = [
  ['s-maxage wins over max-age', [['cache-control', 'max-age=10, s-maxage=20']], 200, 20_000],
  [
    'max-age wins over Expires',
    [
      ['cache-control', 'max-age=10'],
      ['date', http(T)],
      ['expires', http(T + HOUR)],
    ],
    200,
    10_000,
  ],
  [
    'Expires − Date',
    [
      ['date', http(T)],
      ['expires', http(T + 30_000)],
    ],
    200,
    30_000,
  ],
  [
    'Expires before Date',
    [
      ['date', http(T)],
      ['expires', http(T - 30_000)],
    ],
    200,
    0,
  ],
  [
    'invalid Expires is in the past',
    [
      ['expires', '0'],
      ['last-modified', http(T - 10 * HOUR)],
    ],
    200,
    0,
  ],
  [
    'two Expires lines are invalid',
    [
      ['date', http(T)],
      ['expires', http(T + 10_000)],
      ['expires', http(T + 20_000)],
    ],
    200,
    0,
  ],
  ['Expires without Date counts from arrival', [['expires', http(T + 5000)]], 200, 5000],
  [
    'heuristic 10% of Date − Last-Modified',
    [
      ['date', http(T)],
      ['last-modified', http(T - 10 * HOUR)],
    ],
    200,
    HOUR,
  ],
  [
    'heuristic capped at 24 h',
    [
      ['date', http(T)],
      ['last-modified', http(T - 1000 * HOUR)],
    ],
    404,
    24 * HOUR,
  ],
  [
    'heuristic for 301',
    [
      ['date', http(T)],
      ['last-modified', http(T - 10_000)],
    ],
    301,
    1000,
  ],
  [
    'no heuristic for 302',
    [
      ['date', http(T)],
      ['last-modified', http(T - 10 * HOUR)],
    ],
    302,
    0,
  ],
  [
    'no heuristic for 500',
    [
      ['date', http(T)],
      ['last-modified', http(T - 10 * HOUR)],
    ],
    500,
    0,
  ],
  [
    'public allows the heuristic for any status',
    [
      ['cache-control', 'public'],
      ['last-modified', http(T - 10_000)],
    ],
    302,
    1000,
  ],
  [
    'Last-Modified in the future',
    [
      ['date', http(T)],
      ['last-modified', http(T + HOUR)],
    ],
    200,
    0,
  ],
  ['nothing', [], 200, 0],
  [
    'invalid max-age is stale even with Expires',
    [
      ['cache-control', 'max-age=x'],
      ['expires', http(T + HOUR)],
    ],
    200,
    0,
  ],
]

for (const [name, headers, status, expected] of lifetimes) {
  test(`freshness lifetime: ${name}`, (t) => {
    t.is(freshnessLifetimeMs(response(headers, status)), expected)
  })
}

test('freshness lifetime: heuristicCapMs is configurable and validated', (t) => {
  const stored = response([['last-modified', http(T - 1000 * HOUR)]])
  t.is(freshnessLifetimeMs(stored, { heuristicCapMs: 60_000 }), 60_000)
  t.throws(() => freshnessLifetimeMs(stored, { heuristicCapMs: -1 }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.throws(() => freshnessLifetimeMs(stored, { heuristicCapMs: NaN }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})

const ages: [string, FreshnessInput, number, number][] = [
  ['just arrived', response([['date', http(T)]]), T, 0],
  ['resident time', response([['date', http(T)]]), T + 5000, 5000],
  [
    'Age field',
    response([
      ['date', http(T)],
      ['age', '30'],
    ]),
    T,
    30_000,
  ],
  [
    'Age plus response delay',
    response(
      [
        ['date', http(T)],
        ['age', '30'],
      ],
      200,
      T - 2000,
      T,
    ),
    T,
    32_000,
  ],
  ['apparent age from Date', response([['date', http(T - 60_000)]]), T, 60_000],
  [
    'apparent age wins when larger',
    response([
      ['date', http(T - 60_000)],
      ['age', '10'],
    ]),
    T,
    60_000,
  ],
  ['Date in the future', response([['date', http(T + 60_000)]]), T + 1000, 1000],
  [
    'invalid Age ignored',
    response([
      ['date', http(T)],
      ['age', '-5'],
    ]),
    T,
    0,
  ],
  [
    'Age list: first member',
    response([
      ['date', http(T)],
      ['age', '7, 100'],
    ]),
    T,
    7000,
  ],
  [
    'huge Age capped',
    response([
      ['date', http(T)],
      ['age', '9'.repeat(40)],
    ]),
    T,
    2 ** 31 * 1000,
  ],
  ['garbage Date: arrival time', response([['date', 'yesterday-ish']]), T + 3000, 3000],
  ['clock going back', response([['date', http(T)]]), T - 5000, 0],
]

for (const [name, stored, now, expected] of ages) {
  test(`current age: ${name}`, (t) => {
    t.is(currentAgeMs(stored, now), expected)
  })
}

const states: [string, HeaderList, RequestHeaders, number, CacheState][] = [
  ['fresh', [['cache-control', 'max-age=60']], {}, 59_000, 'fresh'],
  ['stale at the lifetime', [['cache-control', 'max-age=60']], {}, 60_000, 'stale'],
  [
    'stale-while-revalidate window',
    [['cache-control', 'max-age=60, stale-while-revalidate=30']],
    {},
    80_000,
    'stale-while-revalidate',
  ],
  ['past the swr window', [['cache-control', 'max-age=60, stale-while-revalidate=30']], {}, 91_000, 'stale'],
  ['response no-cache', [['cache-control', 'max-age=60, no-cache']], {}, 0, 'stale'],
  ['response qualified no-cache revalidates too', [['cache-control', 'max-age=60, no-cache="x"']], {}, 0, 'stale'],
  ['request no-cache', [['cache-control', 'max-age=60']], { 'cache-control': 'no-cache' }, 0, 'stale'],
  ['Pragma: no-cache without Cache-Control', [['cache-control', 'max-age=60']], { pragma: 'no-cache' }, 0, 'stale'],
  [
    'Pragma ignored with Cache-Control',
    [['cache-control', 'max-age=60']],
    { pragma: 'no-cache', 'cache-control': 'max-stale' },
    0,
    'fresh',
  ],
  ['request max-age', [['cache-control', 'max-age=60']], { 'cache-control': 'max-age=10' }, 11_000, 'stale'],
  ['request max-age met', [['cache-control', 'max-age=60']], { 'cache-control': 'max-age=10' }, 10_000, 'fresh'],
  ['request max-age=0', [['cache-control', 'max-age=60']], { 'cache-control': 'max-age=0' }, 1, 'stale'],
  ['request invalid max-age is 0', [['cache-control', 'max-age=60']], { 'cache-control': 'max-age=abc' }, 1, 'stale'],
  ['min-fresh not met', [['cache-control', 'max-age=60']], { 'cache-control': 'min-fresh=20' }, 45_000, 'stale'],
  ['min-fresh met', [['cache-control', 'max-age=60']], { 'cache-control': 'min-fresh=20' }, 40_000, 'fresh'],
  [
    'max-stale accepts staleness',
    [['cache-control', 'max-age=60']],
    { 'cache-control': 'max-stale=10' },
    69_000,
    'fresh',
  ],
  ['max-stale exceeded', [['cache-control', 'max-age=60']], { 'cache-control': 'max-stale=10' }, 71_000, 'stale'],
  ['max-stale without value', [['cache-control', 'max-age=60']], { 'cache-control': 'max-stale' }, 10 * HOUR, 'fresh'],
  [
    'must-revalidate beats max-stale',
    [['cache-control', 'max-age=60, must-revalidate']],
    { 'cache-control': 'max-stale' },
    61_000,
    'stale',
  ],
  [
    'proxy-revalidate beats swr',
    [['cache-control', 'max-age=60, proxy-revalidate, stale-while-revalidate=60']],
    {},
    61_000,
    'stale',
  ],
  ['s-maxage forbids stale', [['cache-control', 's-maxage=60, stale-while-revalidate=60']], {}, 61_000, 'stale'],
  ['no freshness at all', [], {}, 0, 'stale'],
  [
    'request max-age beats max-stale',
    [['cache-control', 'max-age=60']],
    { 'cache-control': 'max-age=5, max-stale' },
    6000,
    'stale',
  ],
  [
    'repeated request headers',
    [['cache-control', 'max-age=60']],
    { 'cache-control': ['max-stale', 'no-cache'] },
    0,
    'stale',
  ],
]

for (const [name, headers, request, elapsed, expected] of states) {
  test(`cache state: ${name}`, (t) => {
    t.is(cacheState(response([['date', http(T)], ...headers]), request, T + elapsed), expected)
  })
}

test('fresh-until: before it cacheState says fresh for a request without directives, from it not', (t) => {
  const stored: FreshnessInput[] = [
    ...states
      .filter(([, , request]) => Object.keys(request).length === 0)
      .map(([, h]) => response([['date', http(T)], ...h])),
    ...ages.map(([, s]) => ({ ...s, headers: [...s.headers, ['cache-control', 'max-age=30']] as HeaderList })),
    // Arrived 10 s late, an Age of 5: fresh for 45 s after arrival.
    response(
      [
        ['cache-control', 'max-age=60'],
        ['age', '5'],
      ],
      200,
      T,
      T + 10_000,
    ),
    response([['cache-control', 'no-cache, max-age=60']]),
  ]
  for (const s of stored) {
    const until = freshUntilMs(s)
    for (const now of [
      T - 60_000,
      T,
      T + 1,
      T + 29_999,
      T + 30_000,
      T + 44_999,
      T + 45_000,
      T + 59_999,
      T + 3_600_000,
    ]) {
      t.is(
        now < until,
        cacheState(s, {}, now) === 'fresh',
        `${JSON.stringify(s.headers)} at T${now - T >= 0 ? '+' : ''}${now - T}`,
      )
    }
  }
  t.is(
    freshUntilMs(
      response(
        [
          ['cache-control', 'max-age=60'],
          ['age', '5'],
        ],
        200,
        T,
        T + 10_000,
      ),
    ),
    T + 10_000 + 45_000,
  )
  t.is(freshUntilMs(response([['cache-control', 'no-cache, max-age=60']])), -Infinity)
})

const sie: [string, string, RequestHeaders, number, boolean][] = [
  ['within the response window', 'max-age=60, stale-if-error=60', {}, 100_000, true],
  ['past the response window', 'max-age=60, stale-if-error=60', {}, 121_000, false],
  ['no window', 'max-age=60', {}, 61_000, false],
  ['request window', 'max-age=60', { 'cache-control': 'stale-if-error=100' }, 150_000, true],
  [
    'request window overrides the response one',
    'max-age=60, stale-if-error=600',
    { 'cache-control': 'stale-if-error=1' },
    62_000,
    false,
  ],
  ['must-revalidate forbids it', 'max-age=60, must-revalidate, stale-if-error=600', {}, 61_000, false],
  ['s-maxage forbids it', 's-maxage=60, stale-if-error=600', {}, 61_000, false],
  ['no-cache forbids it', 'no-cache, stale-if-error=600', {}, 1000, false],
  ['fresh is within any window', 'max-age=60, stale-if-error=0', {}, 1000, true],
]

for (const [name, cc, request, elapsed, expected] of sie) {
  test(`stale-if-error: ${name}`, (t) => {
    t.is(
      staleIfErrorAllowed(
        response([
          ['date', http(T)],
          ['cache-control', cc],
        ]),
        request,
        T + elapsed,
      ),
      expected,
    )
  })
}

test('stale window: the larger of stale-while-revalidate and stale-if-error, 0 when stale use is forbidden', (t) => {
  t.is(staleWindowMs(response([['cache-control', 'max-age=1, stale-while-revalidate=5, stale-if-error=9']])), 9000)
  t.is(staleWindowMs(response([['cache-control', 'max-age=1, stale-while-revalidate=5']])), 5000)
  t.is(staleWindowMs(response([['cache-control', 'max-age=1, must-revalidate, stale-if-error=9']])), 0)
  t.is(staleWindowMs(response([])), 0)
})
