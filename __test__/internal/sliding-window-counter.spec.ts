import test from 'ava'

// Internal: the retry budget and the circuit breaker count their windows with it.
import { SlidingWindowCounter } from '../../src/resilience/sliding-window-counter'

const CALLS = 0
const FAILURES = 1

test('counts each kind separately over the window', (t) => {
  const window = new SlidingWindowCounter(1_000, 10, 2)
  t.is(window.total(CALLS), 0)
  window.add(0, CALLS)
  window.add(50, CALLS, 3)
  window.add(99, FAILURES)
  t.is(window.total(CALLS), 4)
  t.is(window.total(FAILURES), 1)
})

test('slides one bucket at a time: events leave the window a whole bucket at once', (t) => {
  const window = new SlidingWindowCounter(1_000, 10, 1)
  window.add(0, 0) // bucket [0, 100)
  window.add(150, 0, 2) // bucket [100, 200)
  window.advance(999)
  t.is(window.total(0), 3, 'the window still covers [0, 1000)')
  window.advance(1_000)
  t.is(window.total(0), 2, 'the first bucket fell out')
  window.advance(1_099)
  t.is(window.total(0), 2, 'within the same bucket nothing changes')
  window.advance(1_100)
  t.is(window.total(0), 0)
})

test('a jump past the whole window empties it', (t) => {
  const window = new SlidingWindowCounter(1_000, 10, 2)
  for (let now = 0; now < 1_000; now += 100) window.add(now, FAILURES)
  t.is(window.total(FAILURES), 10)
  window.add(5_000, CALLS)
  t.is(window.total(FAILURES), 0)
  t.is(window.total(CALLS), 1)
})

test('a clock that steps back keeps counting into the current bucket', (t) => {
  const window = new SlidingWindowCounter(1_000, 10, 1)
  const totals = [500, 100, 1_499, 1_500].map((now, i) => {
    if (i < 2) window.add(now, 0)
    else window.advance(now)
    return window.total(0)
  })
  t.deepEqual(totals, [1, 2, 2, 0], 'the event at 100 went into the bucket of 500, which leaves the window at 1500')
})

test('clear empties the window and restarts it at the next call', (t) => {
  const window = new SlidingWindowCounter(1_000, 4, 2)
  window.add(10, CALLS, 5)
  window.add(10, FAILURES, 2)
  window.clear()
  t.is(window.total(CALLS), 0)
  t.is(window.total(FAILURES), 0)
  window.add(20, CALLS)
  t.is(window.total(CALLS), 1)
})

test('one bucket: the whole window empties at each boundary', (t) => {
  const window = new SlidingWindowCounter(100, 1, 1)
  for (const start of [0, 100, 200]) {
    window.add(start, 0)
    window.add(start + 99, 0)
    t.is(window.total(0), 2, `only the two of [${start}, ${start + 100})`)
  }
  window.advance(300)
  t.is(window.total(0), 0)
})
