import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { principalCache, type IdentityChange } from '#modules/identity/services/principal_cache'
import { profileCache } from '#modules/identity/services/profile_cache'

/**
 * Tells this process's identity caches (the token check's, GET /auth/me's)
 * about a change `trx` makes, at its commit — before the response is sent,
 * so the caller's very next request sees it without waiting for the NOTIFY
 * the tables' triggers send every process (which stays the guarantee for
 * the other processes and for writes outside these services). Every service
 * that writes users, memberships, tenants' names or revocations calls this.
 */
export function identityChanged(trx: TransactionClientContract, change: IdentityChange) {
  principalCache.changedOnCommit(trx, change)
  profileCache.changedOnCommit(trx, change)
}
