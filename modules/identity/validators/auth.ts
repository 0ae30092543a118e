import vine from '@vinejs/vine'

const email = () => vine.string().trim().maxLength(254).email()
/** At least 12 characters (NIST 800-63B favours length over composition rules); 128 caps hashing cost. */
const newPassword = () => vine.string().minLength(12).maxLength(128)

export const registerValidator = vine.compile(
  vine.object({
    email: email(),
    password: newPassword(),
    name: vine.string().trim().minLength(1).maxLength(120),
    tenantName: vine.string().trim().minLength(2).maxLength(120).optional(),
  })
)

export const loginValidator = vine.compile(
  vine.object({
    email: email(),
    password: vine.string().minLength(1).maxLength(128),
    tenantId: vine.string().uuid().optional(),
  })
)

export const refreshValidator = vine.compile(
  vine.object({
    refreshToken: vine.string().minLength(1).maxLength(200),
  })
)

export const switchTenantValidator = vine.compile(
  vine.object({
    tenantId: vine.string().uuid(),
  })
)
