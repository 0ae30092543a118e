import vine from '@vinejs/vine'

export const userSearchValidator = vine.compile(
  vine.object({ email: vine.string().trim().minLength(1).maxLength(254).optional() })
)

export const userPatchValidator = vine.compile(vine.object({ disabled: vine.boolean() }))
