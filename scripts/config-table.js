#!/usr/bin/env node
// Writes the configuration table (made from the table of variables in src/config/variables.ts)
// between the README's markers; `--check` only reports whether the README is up to date.
// Reads dist/: run `npm run build:ts` first.
'use strict'
const { readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const { renderConfigTable } = require('../dist/config/help.js')

const START = '<!-- config-table:start -->'
const END = '<!-- config-table:end -->'
const readme = join(__dirname, '..', 'README.md')
const text = readFileSync(readme, 'utf8')
const start = text.indexOf(START)
const end = text.indexOf(END)
if (start === -1 || end < start) {
  console.error(`README.md lacks the markers ${START} and ${END}`)
  process.exit(1)
}
const updated = `${text.slice(0, start + START.length)}\n\n${renderConfigTable()}\n\n${text.slice(end)}`
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('README.md configuration table is stale: run npm run config-table')
    process.exit(1)
  }
} else if (updated !== text) {
  writeFileSync(readme, updated)
  console.log('README.md configuration table rewritten')
}
