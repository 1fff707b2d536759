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

// Text corpus: English-like prose from a seeded generator, so text inputs are as
// reproducible as the JSON ones. Frequent function words are real English words; the rest
// of the vocabulary is made of syllables. Words are drawn from a Zipf distribution (s ≈ 1),
// the shape of word frequencies in natural language, which gives realistic repetition.
const FUNCTION_WORDS = (
  'the of and to a in is that it was for on are as with his they at be this from have or by one had not but ' +
  'what all were when we there can an your which their said if do will each about how up out them then she many ' +
  'some so these would other into has more her two like him see time could no make than first been its who now ' +
  'people my made over did down only way find use may water long little very after words called'
).split(' ')
const ONSETS = 'b c d f g h l m n p r s t v w br cl dr fl gr pl pr sh st th tr ch sp'.split(' ')
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ea', 'ou', 'ai', 'ee', 'io']
const CODAS = ['', '', '', 'n', 'r', 's', 't', 'l', 'nd', 'st', 'ng', 'rt', 'ck', 'm']
const SUFFIXES = ['', '', '', '', 's', 'ed', 'ing', 'er', 'ly', 'tion', 'ment', 'ness']
const TEXT_VOCABULARY = 6000

function createWordSource(random) {
  const pick = (list) => list[Math.floor(random() * list.length)]
  const vocabulary = [...FUNCTION_WORDS]
  const seen = new Set(vocabulary)
  while (vocabulary.length < TEXT_VOCABULARY) {
    const syllables = 1 + Math.floor(random() * random() * 4)
    let word = ''
    for (let i = 0; i < syllables; i++) word += pick(ONSETS) + pick(NUCLEI) + (i === syllables - 1 ? pick(CODAS) : '')
    word += pick(SUFFIXES)
    if (!seen.has(word)) {
      seen.add(word)
      vocabulary.push(word)
    }
  }
  // Cumulative Zipf weights over ranks, searched by bisection.
  const cumulative = new Float64Array(vocabulary.length)
  let total = 0
  for (let rank = 0; rank < vocabulary.length; rank++) {
    total += 1 / (rank + 1)
    cumulative[rank] = total
  }
  return function nextWord() {
    const target = random() * total
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const mid = (low + high) >> 1
      if (cumulative[mid] < target) low = mid + 1
      else high = mid
    }
    return vocabulary[low]
  }
}

/**
 * English-like ASCII prose (sentences of 6–24 words with commas, paragraphs of 3–8
 * sentences), exactly `targetBytes` long: the last word may be cut. The same seed gives
 * the same text, and a shorter target gives a prefix of a longer one.
 */
function textCorpus(seed, targetBytes) {
  const random = mulberry32(seed)
  const nextWord = createWordSource(random)
  const parts = []
  let length = 0
  while (length < targetBytes) {
    const sentences = 3 + Math.floor(random() * 6)
    let paragraph = ''
    for (let s = 0; s < sentences; s++) {
      const words = 6 + Math.floor(random() * 19)
      let sentence = ''
      for (let w = 0; w < words; w++) {
        let word = nextWord()
        if (w === 0) word = word[0].toUpperCase() + word.slice(1)
        sentence += (w === 0 ? '' : ' ') + word
        if (w > 2 && w < words - 2 && random() < 0.08) sentence += ','
      }
      paragraph += (s === 0 ? '' : ' ') + sentence + (random() < 0.1 ? '?' : '.')
    }
    paragraph += '\n\n'
    parts.push(paragraph)
    length += paragraph.length
  }
  return Buffer.from(parts.join('').slice(0, targetBytes), 'latin1')
}

module.exports = { mulberry32, jsonPayload, textCorpus }
