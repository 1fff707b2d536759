import test from 'ava'

import { parseHttpDate } from '../../src/gateway/http-cache/http-date'

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37)

const dates: [string | undefined, number | undefined][] = [
  ['Sun, 06 Nov 1994 08:49:37 GMT', NOV_6_1994],
  ['Sunday, 06-Nov-94 08:49:37 GMT', NOV_6_1994],
  ['Sun Nov  6 08:49:37 1994', NOV_6_1994],
  ['  sun, 06 nov 1994 08:49:37 gmt ', NOV_6_1994],
  [undefined, undefined],
  ['', undefined],
  ['0', undefined],
  ['-1', undefined],
  ['784111777', undefined],
  ['1994-11-06T08:49:37Z', undefined],
  ['Sun, 06 Nov 1994 08:49:37 +0100', undefined],
  ['Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT', undefined],
  ['Sun, 06 Nov 1994 25:49:37 GMT', undefined],
  ['Sun, 06 Xyz 1994 08:49:37 GMT', undefined],
  ['Sun, 06 Nov 1994', undefined],
  ['tomorrow', undefined],
  ['Sun, 06 Nov 1994 08:49:37 GMT'.repeat(1000), undefined],
]

for (const [text, expected] of dates) {
  test(`HTTP-date: ${JSON.stringify(text)?.slice(0, 70)}`, (t) => {
    t.is(parseHttpDate(text), expected)
  })
}
