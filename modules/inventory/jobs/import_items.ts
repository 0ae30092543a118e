import { parse } from 'csv-parse/sync'
import vine from '@vinejs/vine'
import { defineOperation, type OperationJob } from '#app/operations/operations'
import { ProblemException } from '#app/http/problem'
import { tenancy } from '#app/tenancy/tenancy'
import { items } from '#modules/inventory/services/stock'

export const IMPORT_KIND = 'inventory.import_items'
export const IMPORT_MAX_ROWS = 10_000
const BATCH = 100
const COLUMNS = ['sku', 'name', 'priceMinor', 'currency', 'onHand', 'active'] as const

export interface ImportInput {
  csv: string
  actorUserId: string
}

export interface ImportResult {
  rows: number
  created: number
  updated: number
  failed: Array<{ line: number; sku: string | null; message: string }>
}

const rowValidator = vine.compile(
  vine.object({
    sku: vine
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    name: vine.string().trim().minLength(1).maxLength(200),
    priceMinor: vine.number().withoutDecimals().min(0).max(1e12),
    currency: vine
      .string()
      .trim()
      .regex(/^[A-Z]{3}$/),
    onHand: vine.number().withoutDecimals().min(0).max(1e9).optional(),
    active: vine.boolean().optional(),
  })
)

/**
 * Parses the CSV (header row first; columns sku, name, priceMinor, currency,
 * and optionally onHand and active) or answers 422 before any operation is
 * queued: a file that is not CSV, lacks a required column or is too long is
 * the caller's to fix, not something to discover in the background.
 */
export function parseImport(csv: string): Array<Record<string, string>> {
  let records: Array<Record<string, string>>
  try {
    records = parse(csv, { columns: true, skip_empty_lines: true, trim: true, bom: true })
  } catch (error) {
    throw invalid(`not valid CSV: ${(error as Error).message.slice(0, 200)}`)
  }
  if (records.length === 0) throw invalid('the CSV has a header but no rows')
  if (records.length > IMPORT_MAX_ROWS) throw invalid(`at most ${IMPORT_MAX_ROWS} rows per import`)
  const header = Object.keys(records[0])
  const missing = ['sku', 'name', 'priceMinor', 'currency'].filter(
    (column) => !header.includes(column)
  )
  if (missing.length) throw invalid(`missing column(s): ${missing.join(', ')}`)
  const unknown = header.filter((column) => !(COLUMNS as readonly string[]).includes(column))
  if (unknown.length) throw invalid(`unknown column(s): ${unknown.join(', ')}`)
  return records
}

function invalid(message: string) {
  return new ProblemException(422, 'validation_failed', 'The import file is not acceptable.', [
    { field: 'csv', rule: 'csv', message },
  ])
}

/**
 * Creates items that do not exist and updates those that do (name, price,
 * currency, active; onHand as an adjustment recorded in the ledger), in
 * short units of work of 100 rows. Progress after each; a cancel request is
 * honoured between batches, keeping what was imported so far.
 */
async function importItems(job: OperationJob<ImportInput>): Promise<ImportResult> {
  const records = parseImport(job.input.csv)
  const result: ImportResult = { rows: records.length, created: 0, updated: 0, failed: [] }
  for (let start = 0; start < records.length; start += BATCH) {
    if (await job.cancelled()) break
    const batch = records.slice(start, start + BATCH)
    await tenancy.run(job.tenantId, async (trx) => {
      for (const [offset, record] of batch.entries()) {
        // Line numbers as a spreadsheet shows them: the header is line 1.
        const line = start + offset + 2
        let row
        try {
          row = await rowValidator.validate({
            ...record,
            onHand: record.onHand === undefined || record.onHand === '' ? undefined : record.onHand,
            active: record.active === undefined || record.active === '' ? undefined : record.active,
          })
        } catch (error) {
          const messages = (error as { messages?: Array<{ field: string; message: string }> })
            .messages
          result.failed.push({
            line,
            sku: record.sku || null,
            message:
              messages?.map((entry) => `${entry.field}: ${entry.message}`).join('; ') ??
              'invalid row',
          })
          continue
        }
        const outcome = await items.upsertFromImport(trx, job.tenantId, row, job.input.actorUserId)
        result[outcome]++
      }
    })
    await job.report(
      ((start + batch.length) / records.length) * 100,
      `${start + batch.length} of ${records.length} rows`
    )
  }
  return result
}

defineOperation<ImportInput, ImportResult>(IMPORT_KIND, importItems)
