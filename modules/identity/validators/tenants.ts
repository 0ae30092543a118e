import vine from '@vinejs/vine'

const roles = ['owner', 'admin', 'agent', 'member'] as const

export const createTenantValidator = vine.compile(
  vine.object({ name: vine.string().trim().minLength(2).maxLength(120) })
)

export const updateTenantValidator = vine.compile(
  vine.object({ name: vine.string().trim().minLength(2).maxLength(120).optional() })
)

export const addMemberValidator = vine.compile(
  vine.object({
    email: vine.string().trim().maxLength(254).email(),
    role: vine.enum(roles),
  })
)

export const changeRoleValidator = vine.compile(vine.object({ role: vine.enum(roles) }))

export const inviteValidator = addMemberValidator

export const acceptInvitationValidator = vine.compile(
  vine.object({ token: vine.string().trim().minLength(1).maxLength(200) })
)
