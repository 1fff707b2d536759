'use strict'

// Helpers shared by the cache suites (cache.js, cache-hit-ratio.js, cache-gc.js): what was
// measured (commit, changed files, addon build time), whether the DistributedCache facade is
// built yet, and ratio spreads; the private redis-server comes from redis-server.js.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { median } = require('./harness')
const { processCpuMicros, startRedis } = require('./redis-server')

const ROOT = path.join(__dirname, '..')

/** The commit, the source files changed since (the cache is being written while this runs) and the addon's build time. */
function buildInfo() {
  const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  const addon = fs.readdirSync(ROOT).find((name) => name.endsWith('.node'))
  const distFile = path.join(ROOT, 'dist', 'cache', 'distributed-cache.js')
  return {
    gitHead: git('rev-parse', 'HEAD'),
    changedFiles: git('status', '--porcelain', '--', 'src', 'crates', 'index.js').split('\n').filter(Boolean),
    addon,
    addonBuilt: addon === undefined ? null : fs.statSync(path.join(ROOT, addon)).mtime.toISOString(),
    distributedCacheBuilt: fs.existsSync(distFile) ? fs.statSync(distFile).mtime.toISOString() : null,
  }
}

/** The DistributedCache class when dist/ has it, else undefined (the suites then measure the raw store). */
function loadDistributedCache() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cache', 'distributed-cache.js'))) return undefined
  return require(ROOT).DistributedCache
}

function spread(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) }
}

/** Per-round ratios a[i] / b[i], as a spread: the rounds' drift cancels within each ratio. */
function ratioSpread(a, b) {
  return spread(a.map((value, i) => value / b[i]))
}

const ratioText = (ratio, digits = 2) =>
  `${ratio.median.toFixed(digits)}× (${ratio.min.toFixed(digits)}–${ratio.max.toFixed(digits)})`

module.exports = {
  buildInfo,
  loadDistributedCache,
  spread,
  ratioSpread,
  ratioText,
  startRedis,
  processCpuMicros,
}
