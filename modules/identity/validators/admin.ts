import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

export const userSearchValidator = vine.compile(
  vine.object({
    email: vine.string().trim().minLength(1).maxLength(254).optional(),
    ...pageFields,
  })
)

export const userPatchValidator = vine.compile(vine.object({ disabled: vine.boolean() }))
