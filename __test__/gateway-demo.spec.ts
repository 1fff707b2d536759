import { gunzipSync } from 'node:zlib'

import test from 'ava'

import { Gateway, startDemoBackend, InvalidArgumentError } from 'optlayer'

import { listen, send } from './helpers/gateway'

test('the demo backend behind a gateway: cacheable JSON, large text, no-store, slow, echo', async (t) => {
  const demo = await startDemoBackend({ port: 0 })
  const gateway = new Gateway({ backends: [{ url: demo.url }] })
  const front = await listen(gateway.handler())
  t.teardown(async () => {
    await front.close()
    await gateway.close()
    await demo.close()
  })
  const url = front.url

  const first = await send(`${url}/cacheable`)
  t.is(first.status, 200)
  t.is(first.headers['x-cache'], 'MISS')
  t.is(first.headers['cache-control'], 'public, max-age=30')
  t.is(first.json().items.length, 40)
  const hit = await send(`${url}/cacheable`)
  t.is(hit.headers['x-cache'], 'HIT')
  const etag = String(hit.headers.etag)
  t.is((await send(`${url}/cacheable`, { headers: { 'if-none-match': etag } })).status, 304)
  t.is(demo.hits.get('/cacheable'), 1)

  const large = await send(`${url}/large?kib=64`, { headers: { 'accept-encoding': 'gzip' } })
  t.is(large.headers['content-encoding'], 'gzip')
  t.is(gunzipSync(large.body).length, 64 * 1024)
  t.true(large.body.length < 8 * 1024)

  await send(`${url}/no-store`)
  t.is((await send(`${url}/no-store`)).headers['x-cache'], 'MISS')
  t.is(demo.hits.get('/no-store'), 2)

  t.deepEqual((await send(`${url}/slow?ms=5`)).json(), { sleptMs: 5 })

  const echoed = await send(`${url}/echo?x=1`, { method: 'POST', body: 'twelve bytes', headers: { 'x-mine': 'm' } })
  const seen = echoed.json()
  t.is(seen.method, 'POST')
  t.is(seen.url, '/echo?x=1')
  t.is(seen.bodyBytes, 12)
  t.is(seen.headers['x-mine'], 'm')
  t.is(seen.headers.via, '1.1 optlayer')
  t.is(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.is(echoed.headers['x-cache'], 'BYPASS')
})

test('the demo backend refuses unknown options', async (t) => {
  await t.throwsAsync(() => startDemoBackend({ prot: 1 } as never), { instanceOf: InvalidArgumentError })
})
