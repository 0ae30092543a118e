import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

const sku = vine
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
const price = vine.number().withoutDecimals().min(0).max(1e12)
const currency = vine.string().regex(/^[A-Z]{3}$/)

export const itemCreateValidator = vine.compile(
  vine.object({
    sku,
    name: vine.string().trim().minLength(1).maxLength(200),
    priceMinor: price,
    currency,
    active: vine.boolean().optional(),
    onHand: vine.number().withoutDecimals().min(0).max(1e9).optional(),
  })
)

export const itemUpdateValidator = vine.compile(
  vine.object({
    name: vine.string().trim().minLength(1).maxLength(200).optional(),
    priceMinor: price.clone().optional(),
    currency: currency.clone().optional(),
    active: vine.boolean().optional(),
  })
)

export const adjustmentValidator = vine.compile(
  vine.object({
    // Zero is refused by the controller: an adjustment that changes nothing is a mistake.
    delta: vine.number().withoutDecimals().range([-1e9, 1e9]),
    reason: vine.string().trim().minLength(1).maxLength(300),
  })
)

export const itemListValidator = vine.compile(
  vine.object({
    lowStock: vine.number().withoutDecimals().min(0).optional(),
    ...pageFields,
  })
)

export const importValidator = vine.compile(
  vine.object({
    // The body limit (BODY_LIMIT) bounds it too; the row count is checked when parsed.
    csv: vine.string().minLength(1),
  })
)
