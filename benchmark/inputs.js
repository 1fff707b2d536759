'use strict'

// Deterministic inputs shared by the suites: the same seed gives the same bytes on every
// machine and every run, so figures from different runs describe the same work.

/** mulberry32: a tiny 32-bit PRNG, plenty for test data. Returns floats in [0, 1). */
function mulberry32(seed) {
  let state = seed >>> 0
  return function random() {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FIRST_NAMES = ['Ana', 'Ben', 'Chloé', 'David', 'Elif', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kofi', 'Lena']
const LAST_NAMES = ['Silva', 'Müller', 'Nguyen', 'Okafor', 'Rossi', 'Kowalski', 'Haddad', 'Tanaka', 'Larsen', 'Moreau']
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'BR', 'JP', 'NG', 'IN', 'PL', 'ES']
const PLANS = ['free', 'starter', 'pro', 'enterprise']
const ORDER_STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'refunded']
const EVENT_TYPES = ['login', 'logout', 'view', 'click', 'purchase', 'signup']
const CURRENCIES = ['EUR', 'USD', 'GBP']
const PRODUCT_COUNT = 500
// All dates fall in the year after this instant, so payloads look like recent API data.
const EPOCH_MS = Date.UTC(2024, 0, 1)
const YEAR_MS = 365 * 24 * 3600 * 1000

function createRecordSource(random) {
  const pick = (list) => list[Math.floor(random() * list.length)]
  const int = (min, max) => min + Math.floor(random() * (max - min + 1))
  const isoDate = () => new Date(EPOCH_MS + Math.floor(random() * YEAR_MS)).toISOString()
  // Squaring skews picks toward low ids, the way a few popular products dominate real orders.
  const productId = () => Math.floor(random() * random() * PRODUCT_COUNT)
  const money = (max) => Math.round(random() * max * 100) / 100

  function user() {
    const first = pick(FIRST_NAMES)
    const last = pick(LAST_NAMES)
    return {
      id: int(1, 99999),
      name: `${first} ${last}`,
      email: `${first}.${last}@example.com`.toLowerCase(),
      country: pick(COUNTRIES),
      plan: pick(PLANS),
      active: random() < 0.8,
      createdAt: isoDate(),
    }
  }

  function order() {
    const items = Array.from({ length: int(1, 4) }, () => ({
      sku: `SKU-${String(productId()).padStart(5, '0')}`,
      quantity: int(1, 5),
      unitPrice: money(200),
    }))
    return {
      id: `ord_${int(100000, 999999)}`,
      userId: int(1, 99999),
      status: pick(ORDER_STATUSES),
      currency: pick(CURRENCIES),
      total: Math.round(items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0) * 100) / 100,
      items,
      createdAt: isoDate(),
    }
  }

  function event() {
    return { id: int(1, 1e9), type: pick(EVENT_TYPES), userId: int(1, 99999), at: isoDate() }
  }

  return function nextRecord() {
    const roll = random()
    return roll < 0.4 ? event() : roll < 0.75 ? user() : order()
  }
}

/**
 * A JSON API response `{"data":[...]}` of mixed user, order and event records, as close to
 * `targetBytes` as whole records allow without exceeding it.
 */
function jsonPayload(seed, targetBytes) {
  const nextRecord = createRecordSource(mulberry32(seed))
  const head = '{"data":['
  const tail = ']}'
  const parts = []
  let length = head.length + tail.length
  // Records that overflow are skipped only while the payload is empty, so tiny targets still
  // get one record; the miss cap keeps an impossible target from looping forever.
  for (let misses = 0; misses < 1000;) {
    const json = JSON.stringify(nextRecord())
    const grown = length + Buffer.byteLength(json) + (parts.length > 0 ? 1 : 0)
    if (grown <= targetBytes) {
      parts.push(json)
      length = grown
    } else if (parts.length > 0) {
      return Buffer.from(head + parts.join(',') + tail)
    } else {
      misses++
    }
  }
  throw new Error(`no record fits in ${targetBytes} bytes`)
}

module.exports = { mulberry32, jsonPayload }
