import { defineApi, ref, schema as s } from '#app/openapi/define'
import { pageValidator } from '#app/http/pagination'
import {
  loginValidator,
  refreshValidator,
  registerValidator,
  switchTenantValidator,
  verifyEmailValidator,
} from '#modules/identity/validators/auth'
import {
  acceptInvitationValidator,
  addMemberValidator,
  changeRoleValidator,
  createTenantValidator,
  updateTenantValidator,
} from '#modules/identity/validators/tenants'
import { userPatchValidator, userSearchValidator } from '#modules/identity/validators/admin'

const ROLES = ['owner', 'admin', 'agent', 'member'] as const
const forbidden = 'forbidden: your role does not allow it'
const notMember = 'tenant_not_found: missing, or you are not a member'
const memberMissing = 'tenant_not_found or member_not_found'
const throttled = 'too many attempts; retry after Retry-After seconds'
const tenantScoped = (extra: Record<number, string> = {}) => ({ 404: notMember, ...extra })

export default defineApi(
  { name: 'identity', description: 'Accounts, sessions and tokens' },
  {
    'POST /api/v1/auth/register': {
      id: 'authRegister',
      summary: 'Create an account (and, with tenantName, a tenant you own); returns a session',
      auth: 'none',
      body: registerValidator,
      ok: { 201: ref('Session') },
      errors: { 409: 'email_taken', 429: throttled },
    },
    'POST /api/v1/auth/login': {
      id: 'authLogin',
      summary: 'Log in with email and password; optionally choose the active tenant',
      auth: 'none',
      body: loginValidator,
      ok: { 200: ref('Session') },
      errors: {
        401: 'invalid_credentials (same answer for unknown email and wrong password)',
        404: 'tenant_not_found: not a member of tenantId',
        429: 'login_blocked for this account from this address; retry after Retry-After seconds',
      },
    },
    'POST /api/v1/auth/refresh': {
      id: 'authRefresh',
      summary: 'Trade a refresh token for a new pair (single use; reuse revokes the whole session)',
      auth: 'none',
      body: refreshValidator,
      ok: { 200: ref('Refreshed') },
      errors: { 401: 'invalid_refresh_token' },
    },
    'POST /api/v1/auth/logout': {
      id: 'authLogout',
      summary: 'End this session: its refresh tokens are revoked and this access token denied',
      ok: { 204: null },
    },
    'POST /api/v1/auth/verify-email': {
      id: 'authVerifyEmail',
      summary: 'Confirm an email address with the code mailed to it (no sign-in needed)',
      auth: 'none',
      body: verifyEmailValidator,
      ok: { 200: ref('EmailVerified') },
      errors: { 404: 'verification_not_found', 429: throttled },
    },
    'POST /api/v1/auth/verify-email/resend': {
      id: 'authResendVerification',
      summary: 'Mail a new verification code to your address (five an hour)',
      ok: { 202: s.object({ sent: { const: true } }) },
      errors: { 409: 'already_verified', 429: throttled },
    },
    'GET /api/v1/auth/me': {
      id: 'authMe',
      summary: 'The current user, active tenant, roles and memberships',
      ok: { 200: ref('Me') },
    },
    'POST /api/v1/auth/switch-tenant': {
      id: 'authSwitchTenant',
      summary: 'A new session bound to another tenant you belong to; the current one ends',
      body: switchTenantValidator,
      ok: { 200: ref('Session') },
      errors: { 404: 'tenant_not_found' },
    },
    'GET /api/v1/tenants': {
      id: 'tenantsList',
      summary: 'Tenants you belong to, with your role',
      query: pageValidator,
      ok: { 200: s.pageOf(ref('Tenant')) },
    },
    'POST /api/v1/tenants': {
      id: 'tenantsCreate',
      summary: 'Create a tenant; you become its owner',
      body: createTenantValidator,
      ok: { 201: ref('Tenant') },
    },
    'GET /api/v1/tenants/{id}': {
      id: 'tenantsShow',
      summary: 'A tenant you belong to',
      ok: { 200: ref('Tenant') },
      errors: tenantScoped(),
    },
    'PATCH /api/v1/tenants/{id}': {
      id: 'tenantsUpdate',
      summary: 'Rename a tenant (owner, admin)',
      body: updateTenantValidator,
      ok: { 200: ref('Tenant') },
      errors: tenantScoped({ 403: forbidden }),
    },
    'GET /api/v1/tenants/{id}/audit': {
      id: 'tenantsAudit',
      summary: "The tenant's security events, newest first (owner, admin)",
      query: pageValidator,
      ok: { 200: s.pageOf(ref('AuditEvent')) },
      errors: tenantScoped({ 403: forbidden }),
    },
    'GET /api/v1/tenants/{id}/members': {
      id: 'membersList',
      summary: 'Members of a tenant you belong to',
      query: pageValidator,
      ok: { 200: s.pageOf(ref('Member')) },
      errors: tenantScoped(),
    },
    'POST /api/v1/tenants/{id}/members': {
      id: 'membersAdd',
      summary: 'Add a registered user by email (owner, admin; only owners grant owner)',
      body: addMemberValidator,
      ok: {
        201: ref('Member'),
        202: {
          description:
            'The account has not verified its email: an invitation was mailed to it instead',
          content: {
            'application/json': { schema: s.object({ invitation: ref('Invitation') }) },
          },
        },
      },
      errors: tenantScoped({ 403: forbidden, 409: 'already_member' }),
    },
    'PATCH /api/v1/tenants/{id}/members/{userId}': {
      id: 'membersChangeRole',
      summary: "Change a member's role (owner, admin; only owners touch owners)",
      body: changeRoleValidator,
      ok: { 200: ref('Member') },
      errors: { 403: forbidden, 404: memberMissing, 409: 'last_owner' },
    },
    'DELETE /api/v1/tenants/{id}/members/{userId}': {
      id: 'membersRemove',
      summary: 'Remove a member, or leave (the last owner cannot)',
      ok: { 204: null },
      errors: { 403: forbidden, 404: memberMissing, 409: 'last_owner' },
    },
    'GET /api/v1/tenants/{id}/invitations': {
      id: 'invitationsList',
      summary: 'Pending invitations of a tenant you belong to (owner, admin)',
      ok: { 200: s.listOf(ref('Invitation')) },
      errors: tenantScoped({ 403: forbidden }),
    },
    'POST /api/v1/tenants/{id}/invitations': {
      id: 'invitationsCreate',
      summary:
        'Invite an email, with or without an account (owner, admin; only owners invite owners). The token is shown once',
      body: addMemberValidator,
      ok: { 201: ref('CreatedInvitation') },
      errors: tenantScoped({ 403: forbidden }),
    },
    'DELETE /api/v1/tenants/{id}/invitations/{invitationId}': {
      id: 'invitationsRevoke',
      summary: 'Revoke a pending invitation',
      ok: { 204: null },
      errors: { 403: forbidden, 404: 'tenant_not_found or invitation_not_found' },
    },
    'POST /api/v1/invitations/accept': {
      id: 'invitationsAccept',
      summary: 'Accept an invitation addressed to your account’s email; you become a member',
      body: acceptInvitationValidator,
      ok: { 200: s.object({ tenantId: s.uuid, role: s.enum(ROLES) }) },
      errors: {
        404: 'invitation_not_found: invalid, used, revoked, expired or for another email',
        409: 'already_member',
      },
    },
    'GET /api/v1/admin/users': {
      id: 'adminUsers',
      summary: 'All users, newest first; search by part of the email (superadmin)',
      query: userSearchValidator,
      ok: { 200: s.pageOf(ref('User')) },
      errors: { 403: forbidden },
    },
    'PATCH /api/v1/admin/users/{id}': {
      id: 'adminUpdateUser',
      summary:
        "Disable or re-enable a user; a disabled user's tokens stop working at once (superadmin)",
      body: userPatchValidator,
      ok: { 200: ref('User') },
      errors: { 403: forbidden, 404: 'user_not_found', 409: 'cannot_disable_self' },
    },
    'GET /api/v1/admin/tenants': {
      id: 'adminTenants',
      summary: 'All tenants with member counts, newest first (superadmin)',
      query: pageValidator,
      ok: { 200: s.pageOf(ref('AdminTenant')) },
      errors: { 403: forbidden },
    },
    'GET /.well-known/jwks.json': {
      id: 'jwks',
      summary: 'Public keys (JWK Set) that verify access tokens',
      auth: 'none',
      ok: { 200: ref('Jwks') },
    },
  },
  {
    User: s.object({
      id: s.uuid,
      email: { type: 'string', format: 'email' },
      emailVerified: s.described(
        s.boolean,
        'Proven by a mailed code; only verified accounts are added to tenants by email'
      ),
      name: s.string,
      isSuperadmin: s.boolean,
      disabledAt: s.described(
        s.nullable(s.dateTime),
        'Set by a platform administrator; a disabled account cannot sign in'
      ),
      createdAt: s.dateTime,
    }),
    TokenPair: s.object({
      tokenType: { const: 'Bearer' },
      accessToken: s.described(s.string, 'JWT (EdDSA), 15 minutes'),
      expiresIn: s.described(s.integer, 'seconds'),
      refreshToken: s.described(s.string, 'Opaque, single use'),
      refreshExpiresIn: s.described(s.integer, 'seconds'),
    }),
    Session: s.object({
      user: ref('User'),
      activeTenantId: s.nullable(s.uuid),
      roles: s.array(s.enum([...ROLES, 'superadmin'])),
      tokens: ref('TokenPair'),
    }),
    Refreshed: s.object({
      activeTenantId: s.nullable(s.uuid),
      roles: s.array(s.string),
      tokens: ref('TokenPair'),
    }),
    Membership: s.object({
      tenantId: s.uuid,
      tenantName: s.string,
      tenantSlug: s.string,
      role: s.enum(ROLES),
    }),
    Me: s.object({
      user: ref('User'),
      activeTenantId: s.nullable(s.uuid),
      roles: s.array(s.string),
      memberships: s.array(ref('Membership')),
    }),
    EmailVerified: s.object({
      email: { type: 'string', format: 'email' },
      emailVerified: { const: true },
    }),
    Tenant: s.object({
      id: s.uuid,
      name: s.string,
      slug: s.string,
      role: s.described(s.enum(ROLES), 'Your role in it'),
      createdAt: s.dateTime,
    }),
    Member: s.object({
      userId: s.uuid,
      email: { type: 'string', format: 'email' },
      name: s.string,
      role: s.enum(ROLES),
      joinedAt: s.dateTime,
    }),
    AuditEvent: s.object({
      id: s.uuid,
      event: { type: 'string', examples: ['login.succeeded', 'member.role_changed'] },
      actorUserId: s.nullable(s.uuid),
      subjectUserId: s.nullable(s.uuid),
      ip: s.nullable(s.string),
      userAgent: s.nullable(s.string),
      requestId: s.nullable(s.string),
      details: s.record,
      createdAt: s.dateTime,
    }),
    Invitation: s.object({
      id: s.uuid,
      email: { type: 'string', format: 'email' },
      role: s.enum(ROLES),
      expiresAt: s.dateTime,
      createdAt: s.dateTime,
    }),
    CreatedInvitation: s.object({
      id: s.uuid,
      email: { type: 'string', format: 'email' },
      role: s.enum(ROLES),
      expiresAt: s.dateTime,
      createdAt: s.dateTime,
      token: s.described(
        s.string,
        'Shown once; the invitee sends it to /api/v1/invitations/accept'
      ),
    }),
    AdminTenant: s.object({
      id: s.uuid,
      name: s.string,
      slug: s.string,
      memberCount: s.integer,
      createdAt: s.dateTime,
    }),
    Jwks: s.object({
      keys: s.array(
        s.object({
          kty: { const: 'OKP' },
          crv: { const: 'Ed25519' },
          x: s.string,
          kid: s.string,
          alg: { const: 'EdDSA' },
          use: { const: 'sig' },
        })
      ),
    }),
  },
  { auth: 'user' }
)
