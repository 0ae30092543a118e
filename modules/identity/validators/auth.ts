import vine from '@vinejs/vine'
import {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  passwordWeakness,
} from '#modules/identity/services/password_policy'

const email = () => vine.string().trim().maxLength(254).email()

/** Not a common password, not the account's email (read from the sibling `email` field). */
const notWeak = vine.createRule((value, _options, field) => {
  if (typeof value !== 'string') return
  const sibling = (field.parent as { email?: unknown } | undefined)?.email
  const weakness = passwordWeakness(value, typeof sibling === 'string' ? sibling : null)
  if (weakness) field.report(weakness, 'weakPassword', field)
})

/*
| Passwords are trimmed, as they were when the body parser trimmed every string:
| an account made with "  secret " then still signs in with it.
*/
const newPassword = () =>
  vine.string().trim().minLength(PASSWORD_MIN_LENGTH).maxLength(PASSWORD_MAX_LENGTH).use(notWeak())

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
    password: vine.string().trim().minLength(1).maxLength(128),
    tenantId: vine.string().uuid().optional(),
  })
)

export const refreshValidator = vine.compile(
  vine.object({
    refreshToken: vine.string().trim().minLength(1).maxLength(200),
  })
)

export const verifyEmailValidator = vine.compile(
  vine.object({ token: vine.string().trim().minLength(1).maxLength(200) })
)

export const switchTenantValidator = vine.compile(
  vine.object({
    tenantId: vine.string().uuid(),
  })
)
