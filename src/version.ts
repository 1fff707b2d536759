import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The installed package's version, read once from its package.json. */
export const VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version
