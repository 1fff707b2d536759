/**
 * Bad input at the HTTP entrances, behind the node:http listener and behind the native front: malformed and fuzzed
 * requests, oversized heads and bodies, a compressed-body bomb and slowloris clients, all while steady load runs.
 * Every bad request must be answered with a 4xx (or the connection closed) within the configured timeouts, never a
 * 500 and never a hang; the slow clients must be cut at the headers timeout; the steady load must not notice.
 */
import { gzipSync } from 'node:zlib'

import { Load, type LoadRequest } from '../load'
import { GatewayProcess } from '../processes'
import { mutate, rawExchange, seededRandom, type RawOutcome } from '../raw-http'
import { atMost, type Check, type Scenario, type ScenarioResult } from '../scenario'

const HEADERS_TIMEOUT_MS = 2_000
const REQUEST_TIMEOUT_MS = 4_000
/** A bad request is answered or its connection closed within the request timeout and this margin. */
const ANSWER_MARGIN_MS = 3_000
const CONCURRENT_CASES = 32
const SEED = 20261207

const JSON_BODY = '{"text":"to be or not to be"}'

/** Requests every server must refuse, each with a 4xx or a close. */
function malformed(): Buffer[] {
  const head = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1')
  const bomb = gzipSync(Buffer.alloc(256 << 20))
  return [
    head(['GET /cacheable HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(70_000)}`]),
    head([`GET /${'a'.repeat(70_000)} HTTP/1.1`, 'Host: x']),
    head(['POST /process HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    head(
      ['POST /process HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'],
      'zz\r\nabc\r\n0\r\n\r\n',
    ),
    head(['POST /process HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Content-Length: 4'], 'abcd'),
    head(['POST /process HTTP/1.1', 'Host: x', 'Content-Length: -1']),
    head(['POST /process HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 99999999999']),
    head(['POST /process HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 7'], '{"text"'),
    head(['GET /\u0000 HTTP/1.1', 'Host: x']),
    head(['GET / HTTP/1.1', 'Host: x', 'Bad Header: y']),
    head(['GET / HTTP/1.1', 'Host: x', 'X-Split: a\rb']),
    head(['\u00ff\u00fe / HTTP/1.1', 'Host: x']),
    head(['GET / HTTP/7.3', 'Host: x']),
    Buffer.concat([
      head([
        'POST /process HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Encoding: gzip',
        `Content-Length: ${bomb.length}`,
      ]),
      bomb,
    ]),
  ]
}

/** Valid requests the fuzzer starts from. */
const SEEDS = [
  'GET /cacheable HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n',
  `POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`,
  `POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${JSON_BODY.length.toString(16)}\r\n${JSON_BODY}\r\n0\r\n\r\n`,
  'GET /no-store?x=1&y=%20 HTTP/1.1\r\nHost: x\r\nIf-None-Match: "abc"\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n',
].map((text) => Buffer.from(text, 'latin1'))

/** Runs `cases` against `port`, `CONCURRENT_CASES` at a time. */
async function exchangeAll(
  port: number,
  cases: readonly Buffer[],
  waitMs: number,
  slowly?: number,
): Promise<RawOutcome[]> {
  const outcomes: RawOutcome[] = new Array(cases.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < cases.length; i = next++)
      outcomes[i] = await rawExchange(port, cases[i] as Buffer, waitMs, slowly)
  }
  await Promise.all(Array.from({ length: slowly === undefined ? CONCURRENT_CASES : cases.length }, worker))
  return outcomes
}

function steadyRequest(n: number): LoadRequest {
  return { method: 'GET', path: n % 4 === 3 ? '/no-store' : '/cacheable' }
}

/** The bad-input scenario behind one front. */
function badHttp(front: 'node' | 'native'): Scenario {
  return {
    name: `bad-http-${front}`,
    inTestCommand: true,
    async run({ short }): Promise<ScenarioResult> {
      const fuzzCases = short ? 300 : 3_000
      const slowClients = short ? 50 : 200
      const gateway = await GatewayProcess.start({
        DEMO: 'true',
        NATIVE_FRONT: String(front === 'native'),
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      })
      const port = Number(new URL(gateway.origin).port)
      const load = Load.start({ origin: gateway.origin, callers: 8, next: steadyRequest })
      try {
        const waitMs = REQUEST_TIMEOUT_MS + ANSWER_MARGIN_MS
        const refused = await exchangeAll(port, malformed(), waitMs)
        const random = seededRandom(SEED)
        const fuzzed = Array.from({ length: fuzzCases }, (_, i) => mutate(SEEDS[i % SEEDS.length] as Buffer, random))
        const fuzzOutcomes = await exchangeAll(port, fuzzed, waitMs)
        const slowHead = Buffer.from(`GET /cacheable HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(10_000)}`, 'latin1')
        const slow = await exchangeAll(port, Array(slowClients).fill(slowHead), HEADERS_TIMEOUT_MS + 10_000, 100)
        const health = await fetch(`${gateway.origin}/health`).then(
          (res) => res.status,
          () => 0,
        )
        const alive = gateway.process.exitCode === null && gateway.process.signalCode === null
        const report = await load.stop()

        const notRefused = refused.filter(
          (o) => o.hung || (o.status !== undefined && (o.status < 400 || o.status === 500)),
        )
        const hung = [...refused, ...fuzzOutcomes].filter((o) => o.hung).length
        const internalErrors = [...refused, ...fuzzOutcomes].filter((o) => o.status === 500).length
        const byStatus: Record<string, number> = {}
        for (const o of fuzzOutcomes) {
          const key = o.status === undefined ? (o.hung ? 'hung' : 'closed') : String(o.status)
          byStatus[key] = (byStatus[key] ?? 0) + 1
        }
        // The fuzz cases to replay first: those that hung or got a 5xx (by index; the seed regenerates them).
        const suspects = fuzzOutcomes.flatMap((o, i) =>
          o.hung || (o.status ?? 0) >= 500 ? [`${i}:${o.status ?? 'hung'}`] : [],
        )
        const slowestCut = Math.max(...slow.map((o) => (o.hung ? Infinity : o.ms)))
        const checks: Check[] = [
          atMost('malformed requests not refused with a 4xx or a close', notRefused.length, 0),
          atMost('bad requests left hanging', hung, 0),
          atMost('bad requests answered 500', internalErrors, 0),
          atMost('slowest slowloris connection cut after', slowestCut, HEADERS_TIMEOUT_MS + ANSWER_MARGIN_MS, ' ms'),
          atMost('steady requests failed meanwhile', report.failed, 0),
          {
            what: 'gateway alive and healthy afterwards',
            ok: alive && health === 200,
            detail: `alive ${alive}, /health ${health}`,
          },
        ]
        return {
          name: this.name,
          load: `8 callers, GET, ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
          faults: `${refused.length} malformed, ${fuzzCases} fuzzed requests (seed ${SEED}), ${slowClients} slowloris clients`,
          requests: report.sent + refused.length + fuzzCases + slowClients,
          failed: report.failed + notRefused.length + internalErrors,
          lost: hung,
          resurrected: 0,
          recoveryMs: undefined,
          figures: {
            'malformed: statuses': refused.map((o) => o.status ?? (o.hung ? 'hung' : 'closed')).join(' '),
            ...Object.fromEntries(Object.entries(byStatus).map(([status, count]) => [`fuzzed: ${status}`, count])),
            'fuzzed: cases that hung or got a 5xx': suspects.slice(0, 10).join(' ') || 'none',
            'slowloris cut after ms (slowest)': Math.round(slowestCut),
            'steady p99 ms': Number(report.p99.toFixed(2)),
          },
          checks,
        }
      } finally {
        await load.stop()
        await gateway.stop()
      }
    },
  }
}

export const badHttpNode = badHttp('node')
export const badHttpNative = badHttp('native')
