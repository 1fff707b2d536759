import { SECTIONS, VARIABLES, type VariableSpec } from './variables'

const BINARY_UNITS = [
  ['TiB', 2 ** 40],
  ['GiB', 2 ** 30],
  ['MiB', 2 ** 20],
  ['KiB', 2 ** 10],
] as const

/** A byte count in the largest binary unit that divides it (`1099511627776` is `1TiB`). */
function bytesText(bytes: number): string {
  const unit = BINARY_UNITS.find(([, size]) => bytes >= size && bytes % size === 0)
  return unit === undefined ? String(bytes) : `${bytes / unit[1]}${unit[0]}`
}

/** What a variable accepts, in words: `integer 0 to 65535`, `true or false`, ... */
export function describeAccepted(spec: VariableSpec): string {
  const range = spec.min === undefined ? '' : ` ${spec.min} to ${spec.max}`
  switch (spec.kind) {
    case 'integer':
      return `integer${range}`
    case 'duration-ms':
      return `milliseconds${range}`
    case 'bytes':
      return `bytes ${bytesText(spec.min ?? 0)} to ${bytesText(spec.max ?? 0)} (65536, 64KiB, 64MB)`
    case 'boolean':
      return 'true or false'
    case 'string':
      return 'text'
    case 'url':
      return `${(spec.choices ?? []).map((s) => `${s}://`).join(' or ')} URL`
    case 'host-port':
      return 'host:port'
    case 'enum':
      return (spec.choices ?? []).join(', ')
    case 'list':
      return 'comma-separated list'
  }
}

function defaultOf(spec: VariableSpec): string {
  if (spec.default !== undefined) return `\`${spec.default}\``
  return spec.defaultText ?? 'unset'
}

/** Pads each cell to its column's width, as prettier lays out a markdown table. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * The README's configuration table (markdown): one row per variable of the table, grouped by
 * section; `scripts/config-table.js` writes it between the README's markers.
 */
export function renderConfigTable(): string {
  const rows = SECTIONS.flatMap((section) =>
    VARIABLES.filter((v) => v.section === section).map((v: VariableSpec) => [
      `\`${v.name}\``,
      section,
      defaultOf(v),
      describeAccepted(v),
      `\`${v.example}\``,
      v.description,
    ]),
  )
  return markdownTable(['variable', 'section', 'default', 'accepts', 'example', 'meaning'], rows)
}

/** Markdown of a description, as plain text for a terminal. */
function plain(text: string): string {
  return text.replaceAll('`', '')
}

/** The environment part of `optlayer serve --help`: every variable by section, with its default and what it accepts. */
export function renderHelp(): string {
  const width = Math.max(...VARIABLES.map((v) => v.name.length)) + 2
  const lines = ['Environment variables (an invalid value stops start-up, naming the variable):']
  for (const section of SECTIONS) {
    lines.push('', `  ${section}`)
    for (const v of VARIABLES.filter((spec) => spec.section === section) as readonly VariableSpec[]) {
      lines.push(`    ${v.name.padEnd(width)}${plain(v.description)}`)
      lines.push(`    ${''.padEnd(width)}${plain(describeAccepted(v))}; default ${plain(defaultOf(v))}`)
    }
  }
  return lines.join('\n')
}
