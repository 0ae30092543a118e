import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { APP_ROOT } from './processes.js'

export async function writeResults(name: string, data: unknown) {
  const dir = join(APP_ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${name}.json`)
  await writeFile(file, JSON.stringify(data, null, 2) + '\n')
  return file
}

/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: Array<Array<string | number>>) {
  const cells = [headers, ...rows.map((row) => row.map(String))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column].length)))
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ')
  console.log(line(headers))
  console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const row of cells.slice(1)) console.log(line(row))
}
