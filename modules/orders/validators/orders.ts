import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

export const placeOrderValidator = vine.compile(
  vine.object({
    lines: vine
      .array(
        vine.object({
          sku: vine.string().trim().minLength(1).maxLength(64),
          quantity: vine.number().withoutDecimals().range([1, 100_000]),
        })
      )
      .minLength(1)
      .maxLength(100),
    customerEmail: vine.string().trim().email().maxLength(254),
    note: vine.string().trim().maxLength(1000).nullable().optional(),
  })
)

const day = vine.string().regex(/^\d{4}-\d{2}-\d{2}$/)
export const listOrdersValidator = vine.compile(
  vine.object({
    status: vine.enum(['pending', 'confirmed', 'rejected', 'cancelled', 'fulfilled']).optional(),
    customer: vine.string().trim().maxLength(254).optional(),
    from: day.clone().optional(),
    to: day.clone().optional(),
    ...pageFields,
  })
)
