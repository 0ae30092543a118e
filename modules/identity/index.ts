/*
| Public face of the identity module: what other modules (and config/auth.ts)
| may import.
*/
import '#modules/identity/events'

export { principalResolver } from '#modules/identity/services/principal_resolver'
export { signingKeys } from '#modules/identity/services/signing_keys'
export type { MembershipRole, MembershipView, UserView } from '#modules/identity/services/accounts'
export { provisioning, ProvisioningError } from '#modules/identity/services/provisioning'
export { isTenantMember } from '#modules/identity/services/tenants'
export { recordAudit, type AuditEvent } from '#modules/identity/services/audit'
