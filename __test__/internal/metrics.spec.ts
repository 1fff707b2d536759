import test from 'ava'
import { LatencyHistogram } from 'optlayer'

import { withinPrecision } from '../helpers/hdr'

// Internal: the sliding window behind the summary's quantiles.
import { LatencyWindow } from '../../src/monitoring/latency-window'

test('a read since a checkpoint covers only the values recorded after it; LatencyWindow keeps the right base', (t) => {
  const histogram = new LatencyHistogram()
  t.teardown(() => histogram.close())
  for (let i = 0; i < 1000; i++) histogram.record(100)
  const checkpoint = histogram.toBuffer()
  for (let i = 1; i <= 100; i++) histogram.record(i / 10)
  const windowed = histogram.snapshot({ since: checkpoint })
  t.is(windowed.count, 100)
  t.true(withinPrecision(windowed.p50Ms ?? NaN, 5))
  t.true(withinPrecision(windowed.maxMs ?? NaN, 10))
  t.true((histogram.snapshot().p50Ms ?? 0) >= 99.9, 'the cumulative median is still 100')

  const window = new LatencyWindow(60_000, 6)
  const taken: number[] = []
  const take = (at: number) => () => {
    taken.push(at)
    return Buffer.from([at % 256])
  }
  for (let at = 0; at <= 120_000; at += 1_000) window.tick(at, take(at))
  t.deepEqual(taken.slice(0, 3), [0, 10_000, 20_000], 'a checkpoint every window/slices')
  // At 120 s the base is the newest checkpoint at least 60 s old: the one of 60 s.
  t.is(window.coveredSeconds(120_000), 60)
  t.deepEqual([...(window.since() ?? [])], [60_000 % 256])
})
