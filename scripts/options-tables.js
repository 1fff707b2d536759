#!/usr/bin/env node
// Writes the README's option tables, one per options interface listed below, between the
// markers `<!-- options:<Interface>:start -->` and `<!-- options:<Interface>:end -->`. Each
// row comes from the property's declaration in src/: its type as written, its `@default`
// tag and the first sentence of its TSDoc, so the tables cannot drift from the code.
// `--check` only reports whether the README is up to date. Reads the sources, not dist/.
'use strict'
const { readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')
const prettier = require('prettier')
const ts = require('typescript')

const root = join(__dirname, '..')
const readme = join(root, 'README.md')

/** Every interface with a table, and the source file that declares it. */
const INTERFACES = [
  ['OptimizationLayerOptions', 'src/layer/options.ts'],
  ['GatewayOptions', 'src/gateway/options.ts'],
  ['GatewayBackend', 'src/gateway/options.ts'],
  ['DistributedCacheOptions', 'src/cache/cache-options.ts'],
  ['L1Options', 'src/cache/cache-options.ts'],
  ['L2Options', 'src/cache/native-store.ts'],
  ['L3TierOptions', 'src/cache/cache-options.ts'],
  ['LeaseOptions', 'src/cache/cache-options.ts'],
  ['OutageJournalOptions', 'src/cache/cache-options.ts'],
  ['RateLimiterOptions', 'src/ratelimit/rate-limiter.ts'],
  ['CircuitBreakerOptions', 'src/resilience/circuit-breaker.ts'],
  ['LoadBalancerOptions', 'src/balancer/options.ts'],
  ['BackendConfig', 'src/balancer/options.ts'],
  ['HealthCheckOptions', 'src/balancer/options.ts'],
  ['OutlierDetectionOptions', 'src/balancer/options.ts'],
  ['RetryBudgetOptions', 'src/balancer/options.ts'],
  ['ConnectionPoolOptions', 'src/pool/pool-options.ts'],
  ['HttpUpstreamOptions', 'src/pool/http-upstream.ts'],
  ['TaskQueueOptions', 'src/queue/options.ts'],
  ['BackoffOptions', 'src/queue/types.ts'],
  ['DurableTaskQueueOptions', 'src/queue/durable/options.ts'],
  ['AlertManagerOptions', 'src/monitoring/alerts.ts'],
  ['AlertRule', 'src/monitoring/alerts.ts'],
  ['MetricsCollectorOptions', 'src/monitoring/metrics-collector.ts'],
  ['NativeFrontOptions', 'src/front/native-front.ts'],
]

const MARKER = /<!-- options:(\w+):(start|end) -->/g

/** A program over the listed files, with the project's compiler options. */
function createProgram() {
  const configPath = join(root, 'tsconfig.json')
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile)
  if (error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'))
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root)
  const files = [...new Set(INTERFACES.map(([, file]) => join(root, file)))]
  return ts.createProgram(files, options)
}

/** `{@link X}` as `X` in code, `{@link X | text}` (or `{@link X text}`) as the text. */
function unlink(text) {
  return text.replace(/\{@link(?:code|plain)?\s+([^\s|}]+)\s*\|?\s*([^}]*?)\s*\}/g, (_, target, label) =>
    label === '' ? `\`${target}\`` : label,
  )
}

/** A comment's text on one line, links resolved. */
function oneLine(comment) {
  return unlink(ts.getTextOfJSDocComment(comment) ?? '')
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * The first sentence of `text`: up to the first `.`, `!` or `?` followed by a space or the
 * end, outside code spans and brackets (so `0.5`, `(1 MiB, …).` and `e.g.` do not end it).
 */
function firstSentence(text) {
  let code = false
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '`') code = !code
    if (code) continue
    if (c === '(' || c === '[' || c === '{') depth++
    else if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1)
    else if ('.!?'.includes(c) && depth === 0 && (i + 1 === text.length || text[i + 1] === ' ')) {
      if (/\b(e\.g|i\.e|etc|vs|cf)$/.test(text.slice(0, i))) continue
      return text.slice(0, i + 1)
    }
  }
  return text
}

/** Length of the bracketed literal `{ … }` or `[ … ]` that `text` starts with, or 0. */
function bracketedLength(text) {
  if (text[0] !== '{' && text[0] !== '[') return 0
  let depth = 0
  let quote = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quote !== '') {
      if (c === quote) quote = ''
    } else if (c === "'" || c === '"') quote = c
    else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return 0
}

/**
 * A `@default` text as markdown: a leading JavaScript literal (`'x'`, `1_000`, `{ … }`,
 * `true`, `performance.now`, `SOME_DEFAULTS`, a sibling option's name) goes in a code span; the prose after
 * it, already markdown like the descriptions, stays as written, unless a colon introduces it:
 * that is the reason for the value, which the table leaves to the source.
 */
function defaultCell(text, siblings) {
  if (text.startsWith('`')) return text
  const literal =
    /^'(?:[^'\\]|\\.)*'/.exec(text)?.[0] ??
    /^-?\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?(?=$|[,;:)]|\s\()/.exec(text)?.[0] ??
    /^(?:true|false|Infinity|null|undefined)\b/.exec(text)?.[0] ??
    /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?=$|[,;:]|\s\()/.exec(text)?.[0] ??
    /^[A-Z][A-Z\d_]+$/.exec(text)?.[0] ??
    (siblings.has(text) ? text : undefined) ??
    text.slice(0, bracketedLength(text))
  if (literal === '') return text
  const rest = text.slice(literal.length)
  return `\`${literal}\`${rest.startsWith(':') ? '' : rest}`
}

/** `text` fit for a table cell: pipes escaped (inside code spans too, as GFM requires). */
function cell(text) {
  return text.replace(/\|/g, '\\|')
}

/** The last JSDoc block of a declaration: its comment and its tags by name. */
function docOf(node) {
  const blocks = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc)
  const doc = blocks[blocks.length - 1]
  const tags = new Map((doc?.tags ?? []).map((tag) => [tag.tagName.text, oneLine(tag.comment)]))
  return { summary: oneLine(doc?.comment), tags }
}

/** The declaration of an exported interface `name` in `file`. */
function findInterface(program, name, file) {
  const source = program.getSourceFile(join(root, file))
  if (source === undefined) throw new Error(`${file} is not in the program`)
  const found = source.statements.find(
    (s) =>
      ts.isInterfaceDeclaration(s) &&
      s.name.text === name &&
      s.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword),
  )
  if (found === undefined) throw new Error(`${file} exports no interface ${name}`)
  return found
}

/** The table of one interface, own properties first, then those it inherits. */
function renderInterface(program, checker, name, file, problems) {
  const declaration = findInterface(program, name, file)
  const type = checker.getDeclaredTypeOfSymbol(checker.getSymbolAtLocation(declaration.name))
  const properties = checker.getPropertiesOfType(type)
  const siblings = new Set(properties.map((p) => p.name))
  const rows = properties.map((property) => {
    const node = property.valueDeclaration ?? property.declarations?.[0]
    if (node === undefined || !ts.isPropertySignature(node) || node.type === undefined) {
      problems.push(`${name}.${property.name}: not a property signature with a written type`)
      return []
    }
    const where = `${node.getSourceFile().fileName.slice(root.length + 1)}: ${name}.${property.name}`
    const { summary, tags } = docOf(node)
    const deprecated = tags.get('deprecated')
    const description = deprecated !== undefined ? `Deprecated. ${firstSentence(deprecated)}` : firstSentence(summary)
    if (description === '') problems.push(`${where} has no TSDoc description`)
    const fallback = tags.get('default')
    let defaultText = node.questionToken === undefined ? 'required' : '—'
    if (fallback !== undefined) defaultText = defaultCell(firstSentence(fallback), siblings)
    if (fallback === '') problems.push(`${where} has an empty @default`)
    return [`\`${property.name}\``, `\`${node.type.getText().replace(/\s+/g, ' ')}\``, defaultText, description].map(
      cell,
    )
  })
  const { summary } = docOf(declaration)
  const inherited = (declaration.heritageClauses ?? []).flatMap((clause) => clause.types.map((t) => t.getText()))
  const caption = [
    `**\`${name}\`**${summary === '' ? '' : `: ${firstSentence(summary)}`}`,
    ...(inherited.length > 0 ? [`Includes the options of ${inherited.map((t) => `\`${t}\``).join(', ')}.`] : []),
  ].join(' ')
  const header = ['option', 'type', 'default', 'description']
  return [
    caption,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n')
}

/** The README with every table rewritten and formatted as `prettier --check` expects. */
async function render(text) {
  const program = createProgram()
  const checker = program.getTypeChecker()
  const problems = []
  const known = new Set(INTERFACES.map(([name]) => name))
  for (const [, name] of text.matchAll(MARKER)) {
    if (!known.has(name))
      problems.push(`README.md has markers of ${name}, which scripts/options-tables.js does not list`)
  }
  let updated = text
  for (const [name, file] of INTERFACES) {
    const start = `<!-- options:${name}:start -->`
    const end = `<!-- options:${name}:end -->`
    const from = updated.indexOf(start)
    const to = updated.indexOf(end)
    if (from === -1 || to < from || updated.indexOf(start, from + 1) !== -1) {
      problems.push(`README.md needs the markers ${start} and ${end}, once each`)
      continue
    }
    const table = renderInterface(program, checker, name, file, problems)
    updated = `${updated.slice(0, from + start.length)}\n\n${table}\n\n${updated.slice(to)}`
  }
  if (problems.length > 0) throw new Error(problems.join('\n'))
  const options = await prettier.resolveConfig(readme)
  return prettier.format(updated, { ...options, filepath: readme })
}

async function main() {
  const text = readFileSync(readme, 'utf8')
  const updated = await render(text)
  if (process.argv.includes('--check')) {
    if (updated !== text) {
      console.error('README.md option tables are stale: run npm run options-tables')
      process.exitCode = 1
    }
  } else if (updated !== text) {
    writeFileSync(readme, updated)
    console.log('README.md option tables rewritten')
  }
}

main().catch((err) => {
  console.error(err.message)
  process.exitCode = 1
})
