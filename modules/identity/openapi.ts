import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, parameter, ref, response } from '#app/openapi/components'
import { requestBody } from '#app/openapi/from_validators'
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
import { userPatchValidator } from '#modules/identity/validators/admin'

const bearer = [{ bearer: [] }]
const tenantId = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
}
const userId = {
  name: 'userId',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
}
const forbidden = {
  ...response('Forbidden'),
  description: 'forbidden: your role does not allow it',
}
const notMember = {
  ...response('NotFound'),
  description: 'tenant_not_found: missing, or you are not a member',
}

const fragment: OpenApiFragment = {
  tags: [{ name: 'identity', description: 'Accounts, sessions and tokens' }],
  paths: {
    '/api/v1/auth/register': {
      post: {
        operationId: 'authRegister',
        summary: 'Create an account (and, with tenantName, a tenant you own); returns a session',
        tags: ['identity'],
        requestBody: requestBody(registerValidator),
        responses: {
          201: json(ref('Session'), 'Account created'),
          400: response('BadRequest'),
          409: { ...response('Conflict'), description: 'email_taken' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/auth/login': {
      post: {
        operationId: 'authLogin',
        summary: 'Log in with email and password; optionally choose the active tenant',
        tags: ['identity'],
        requestBody: requestBody(loginValidator),
        responses: {
          200: json(ref('Session')),
          400: response('BadRequest'),
          401: {
            ...response('Unauthorized'),
            description: 'invalid_credentials (same answer for unknown email and wrong password)',
          },
          404: {
            ...response('NotFound'),
            description: 'tenant_not_found: not a member of tenantId',
          },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/auth/refresh': {
      post: {
        operationId: 'authRefresh',
        summary:
          'Trade a refresh token for a new pair (single use; reuse revokes the whole session)',
        tags: ['identity'],
        requestBody: requestBody(refreshValidator),
        responses: {
          200: json(ref('Refreshed')),
          400: response('BadRequest'),
          401: { ...response('Unauthorized'), description: 'invalid_refresh_token' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/auth/logout': {
      post: {
        operationId: 'authLogout',
        summary: 'End this session: its refresh tokens are revoked and this access token denied',
        tags: ['identity'],
        security: bearer,
        responses: { 204: { description: 'Logged out' }, 401: response('Unauthorized') },
      },
    },
    '/api/v1/auth/verify-email': {
      post: {
        operationId: 'authVerifyEmail',
        summary: 'Confirm an email address with the code mailed to it (no sign-in needed)',
        tags: ['identity'],
        requestBody: requestBody(verifyEmailValidator),
        responses: {
          200: json(ref('EmailVerified')),
          404: { ...response('NotFound'), description: 'verification_not_found' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/auth/verify-email/resend': {
      post: {
        operationId: 'authResendVerification',
        summary: 'Mail a new verification code to your address (five an hour)',
        tags: ['identity'],
        security: bearer,
        responses: {
          202: json(
            {
              type: 'object',
              required: ['sent'],
              properties: { sent: { const: true } },
              additionalProperties: false,
            },
            'Mailed'
          ),
          401: response('Unauthorized'),
          409: { ...response('Conflict'), description: 'already_verified' },
          429: response('RateLimited'),
        },
      },
    },
    '/api/v1/auth/me': {
      get: {
        operationId: 'authMe',
        summary: 'The current user, active tenant, roles and memberships',
        tags: ['identity'],
        security: bearer,
        responses: { 200: json(ref('Me')), 401: response('Unauthorized') },
      },
    },
    '/api/v1/auth/switch-tenant': {
      post: {
        operationId: 'authSwitchTenant',
        summary: 'A new session bound to another tenant you belong to; the current one ends',
        tags: ['identity'],
        security: bearer,
        requestBody: requestBody(switchTenantValidator),
        responses: {
          200: json(ref('Session')),
          401: response('Unauthorized'),
          404: { ...response('NotFound'), description: 'tenant_not_found' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants': {
      get: {
        operationId: 'tenantsList',
        summary: 'Tenants you belong to, with your role',
        tags: ['identity'],
        security: bearer,
        parameters: [parameter('Limit'), parameter('Cursor')],
        responses: {
          200: json(pageOf(ref('Tenant'))),
          401: response('Unauthorized'),
          422: response('ValidationFailed'),
        },
      },
      post: {
        operationId: 'tenantsCreate',
        summary: 'Create a tenant; you become its owner',
        tags: ['identity'],
        security: bearer,
        requestBody: requestBody(createTenantValidator),
        responses: {
          201: json(ref('Tenant'), 'Created'),
          401: response('Unauthorized'),
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants/{id}': {
      get: {
        operationId: 'tenantsShow',
        summary: 'A tenant you belong to',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId],
        responses: { 200: json(ref('Tenant')), 401: response('Unauthorized'), 404: notMember },
      },
      patch: {
        operationId: 'tenantsUpdate',
        summary: 'Rename a tenant (owner, admin)',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId],
        requestBody: requestBody(updateTenantValidator),
        responses: {
          200: json(ref('Tenant')),
          401: response('Unauthorized'),
          403: forbidden,
          404: notMember,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants/{id}/audit': {
      get: {
        operationId: 'tenantsAudit',
        summary: "The tenant's security events, newest first (owner, admin)",
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId, parameter('Limit'), parameter('Cursor')],
        responses: {
          200: json(pageOf(ref('AuditEvent'))),
          401: response('Unauthorized'),
          403: forbidden,
          404: notMember,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants/{id}/members': {
      get: {
        operationId: 'membersList',
        summary: 'Members of a tenant you belong to',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId, parameter('Limit'), parameter('Cursor')],
        responses: {
          200: json(pageOf(ref('Member'))),
          401: response('Unauthorized'),
          404: notMember,
          422: response('ValidationFailed'),
        },
      },
      post: {
        operationId: 'membersAdd',
        summary: 'Add a registered user by email (owner, admin; only owners grant owner)',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId],
        requestBody: requestBody(addMemberValidator),
        responses: {
          201: json(ref('Member'), 'Added'),
          202: json(
            {
              type: 'object',
              required: ['invitation'],
              properties: { invitation: ref('Invitation') },
              additionalProperties: false,
            },
            'The account has not verified its email: an invitation was mailed to it instead'
          ),
          401: response('Unauthorized'),
          403: forbidden,
          404: notMember,
          409: { ...response('Conflict'), description: 'already_member' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants/{id}/members/{userId}': {
      patch: {
        operationId: 'membersChangeRole',
        summary: "Change a member's role (owner, admin; only owners touch owners)",
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId, userId],
        requestBody: requestBody(changeRoleValidator),
        responses: {
          200: json(ref('Member')),
          401: response('Unauthorized'),
          403: forbidden,
          404: { ...response('NotFound'), description: 'tenant_not_found or member_not_found' },
          409: { ...response('Conflict'), description: 'last_owner' },
          422: response('ValidationFailed'),
        },
      },
      delete: {
        operationId: 'membersRemove',
        summary: 'Remove a member, or leave (the last owner cannot)',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId, userId],
        responses: {
          204: { description: 'Removed' },
          401: response('Unauthorized'),
          403: forbidden,
          404: { ...response('NotFound'), description: 'tenant_not_found or member_not_found' },
          409: { ...response('Conflict'), description: 'last_owner' },
        },
      },
    },
    '/api/v1/tenants/{id}/invitations': {
      get: {
        operationId: 'invitationsList',
        summary: 'Pending invitations of a tenant you belong to',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId],
        responses: {
          200: json({
            type: 'object',
            required: ['data'],
            properties: { data: { type: 'array', items: ref('Invitation') } },
          }),
          401: response('Unauthorized'),
          404: notMember,
        },
      },
      post: {
        operationId: 'invitationsCreate',
        summary:
          'Invite an email, with or without an account (owner, admin; only owners invite owners). The token is shown once',
        tags: ['identity'],
        security: bearer,
        parameters: [tenantId],
        requestBody: requestBody(addMemberValidator),
        responses: {
          201: json(ref('CreatedInvitation'), 'Invited'),
          401: response('Unauthorized'),
          403: forbidden,
          404: notMember,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/tenants/{id}/invitations/{invitationId}': {
      delete: {
        operationId: 'invitationsRevoke',
        summary: 'Revoke a pending invitation',
        tags: ['identity'],
        security: bearer,
        parameters: [
          tenantId,
          {
            name: 'invitationId',
            in: 'path',
            required: true,
            schema: { type: 'string', format: 'uuid' },
          },
        ],
        responses: {
          204: { description: 'Revoked' },
          401: response('Unauthorized'),
          403: forbidden,
          404: { ...response('NotFound'), description: 'tenant_not_found or invitation_not_found' },
        },
      },
    },
    '/api/v1/invitations/accept': {
      post: {
        operationId: 'invitationsAccept',
        summary: 'Accept an invitation addressed to your account’s email; you become a member',
        tags: ['identity'],
        security: bearer,
        requestBody: requestBody(acceptInvitationValidator),
        responses: {
          200: json({
            type: 'object',
            required: ['tenantId', 'role'],
            properties: {
              tenantId: { type: 'string', format: 'uuid' },
              role: { enum: ['owner', 'admin', 'agent', 'member'] },
            },
            additionalProperties: false,
          }),
          401: response('Unauthorized'),
          404: {
            ...response('NotFound'),
            description:
              'invitation_not_found: invalid, used, revoked, expired or for another email',
          },
          409: { ...response('Conflict'), description: 'already_member' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/admin/users': {
      get: {
        operationId: 'adminUsers',
        summary: 'All users, newest first; search by email (superadmin)',
        tags: ['identity'],
        security: bearer,
        parameters: [
          {
            name: 'email',
            in: 'query',
            description: 'Part of the email',
            schema: { type: 'string' },
          },
          parameter('Limit'),
          parameter('Cursor'),
        ],
        responses: {
          200: json(pageOf(ref('AdminUser'))),
          401: response('Unauthorized'),
          403: forbidden,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/admin/users/{id}': {
      patch: {
        operationId: 'adminUpdateUser',
        summary:
          "Disable or re-enable a user; a disabled user's tokens stop working at once (superadmin)",
        tags: ['identity'],
        security: bearer,
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        requestBody: requestBody(userPatchValidator),
        responses: {
          200: json(ref('AdminUser')),
          401: response('Unauthorized'),
          403: forbidden,
          404: { ...response('NotFound'), description: 'user_not_found' },
          409: { ...response('Conflict'), description: 'cannot_disable_self' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/admin/tenants': {
      get: {
        operationId: 'adminTenants',
        summary: 'All tenants with member counts, newest first (superadmin)',
        tags: ['identity'],
        security: bearer,
        parameters: [parameter('Limit'), parameter('Cursor')],
        responses: {
          200: json(pageOf(ref('AdminTenant'))),
          401: response('Unauthorized'),
          403: forbidden,
          422: response('ValidationFailed'),
        },
      },
    },
    '/.well-known/jwks.json': {
      get: {
        operationId: 'jwks',
        summary: 'Public keys (JWK Set) that verify access tokens',
        tags: ['identity'],
        responses: { 200: json(ref('Jwks')) },
      },
    },
  },
  schemas: {
    User: {
      type: 'object',
      required: ['id', 'email', 'emailVerified', 'name', 'isSuperadmin', 'disabledAt', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        email: { type: 'string', format: 'email' },
        emailVerified: {
          type: 'boolean',
          description: 'Proven by a mailed code; only verified accounts are added to tenants by email',
        },
        name: { type: 'string' },
        isSuperadmin: { type: 'boolean' },
        disabledAt: {
          type: ['string', 'null'],
          format: 'date-time',
          description: 'Set by a platform administrator; a disabled account cannot sign in',
        },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    TokenPair: {
      type: 'object',
      required: ['tokenType', 'accessToken', 'expiresIn', 'refreshToken', 'refreshExpiresIn'],
      properties: {
        tokenType: { const: 'Bearer' },
        accessToken: { type: 'string', description: 'JWT (EdDSA), 15 minutes' },
        expiresIn: { type: 'integer', description: 'seconds' },
        refreshToken: { type: 'string', description: 'Opaque, single use' },
        refreshExpiresIn: { type: 'integer', description: 'seconds' },
      },
      additionalProperties: false,
    },
    Session: {
      type: 'object',
      required: ['user', 'activeTenantId', 'roles', 'tokens'],
      properties: {
        user: ref('User'),
        activeTenantId: { type: ['string', 'null'], format: 'uuid' },
        roles: {
          type: 'array',
          items: { enum: ['owner', 'admin', 'agent', 'member', 'superadmin'] },
        },
        tokens: ref('TokenPair'),
      },
      additionalProperties: false,
    },
    Refreshed: {
      type: 'object',
      required: ['activeTenantId', 'roles', 'tokens'],
      properties: {
        activeTenantId: { type: ['string', 'null'], format: 'uuid' },
        roles: { type: 'array', items: { type: 'string' } },
        tokens: ref('TokenPair'),
      },
      additionalProperties: false,
    },
    Membership: {
      type: 'object',
      required: ['tenantId', 'tenantName', 'tenantSlug', 'role'],
      properties: {
        tenantId: { type: 'string', format: 'uuid' },
        tenantName: { type: 'string' },
        tenantSlug: { type: 'string' },
        role: { enum: ['owner', 'admin', 'agent', 'member'] },
      },
      additionalProperties: false,
    },
    Me: {
      type: 'object',
      required: ['user', 'activeTenantId', 'roles', 'memberships'],
      properties: {
        user: ref('User'),
        activeTenantId: { type: ['string', 'null'], format: 'uuid' },
        roles: { type: 'array', items: { type: 'string' } },
        memberships: { type: 'array', items: ref('Membership') },
      },
      additionalProperties: false,
    },
    EmailVerified: {
      type: 'object',
      required: ['email', 'emailVerified'],
      properties: {
        email: { type: 'string', format: 'email' },
        emailVerified: { const: true },
      },
      additionalProperties: false,
    },
    Tenant: {
      type: 'object',
      required: ['id', 'name', 'slug', 'role', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        name: { type: 'string' },
        slug: { type: 'string' },
        role: { enum: ['owner', 'admin', 'agent', 'member'], description: 'Your role in it' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    Member: {
      type: 'object',
      required: ['userId', 'email', 'name', 'role', 'joinedAt'],
      properties: {
        userId: { type: 'string', format: 'uuid' },
        email: { type: 'string', format: 'email' },
        name: { type: 'string' },
        role: { enum: ['owner', 'admin', 'agent', 'member'] },
        joinedAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    AuditEvent: {
      type: 'object',
      required: [
        'id',
        'event',
        'actorUserId',
        'subjectUserId',
        'ip',
        'userAgent',
        'requestId',
        'details',
        'createdAt',
      ],
      properties: {
        id: { type: 'string', format: 'uuid' },
        event: { type: 'string', examples: ['login.succeeded', 'member.role_changed'] },
        actorUserId: { type: ['string', 'null'], format: 'uuid' },
        subjectUserId: { type: ['string', 'null'], format: 'uuid' },
        ip: { type: ['string', 'null'] },
        userAgent: { type: ['string', 'null'] },
        requestId: { type: ['string', 'null'] },
        details: { type: 'object' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    Invitation: {
      type: 'object',
      required: ['id', 'email', 'role', 'expiresAt', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        email: { type: 'string', format: 'email' },
        role: { enum: ['owner', 'admin', 'agent', 'member'] },
        expiresAt: { type: 'string', format: 'date-time' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    CreatedInvitation: {
      type: 'object',
      required: ['id', 'email', 'role', 'expiresAt', 'createdAt', 'token'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        email: { type: 'string', format: 'email' },
        role: { enum: ['owner', 'admin', 'agent', 'member'] },
        expiresAt: { type: 'string', format: 'date-time' },
        createdAt: { type: 'string', format: 'date-time' },
        token: {
          type: 'string',
          description: 'Shown once; the invitee sends it to /api/v1/invitations/accept',
        },
      },
      additionalProperties: false,
    },
    AdminUser: ref('User'),
    AdminTenant: {
      type: 'object',
      required: ['id', 'name', 'slug', 'memberCount', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        name: { type: 'string' },
        slug: { type: 'string' },
        memberCount: { type: 'integer' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    Jwks: {
      type: 'object',
      required: ['keys'],
      properties: {
        keys: {
          type: 'array',
          items: {
            type: 'object',
            required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
            properties: {
              kty: { const: 'OKP' },
              crv: { const: 'Ed25519' },
              x: { type: 'string' },
              kid: { type: 'string' },
              alg: { const: 'EdDSA' },
              use: { const: 'sig' },
            },
            additionalProperties: false,
          },
        },
      },
    },
  },
}

export default fragment
