import { randomBytes } from 'node:crypto'
import hash from '@adonisjs/core/services/hash'
import db from '@adonisjs/lucid/services/db'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { normalizeEmail } from '#modules/identity/services/accounts'
import { tenantSlug } from '#modules/identity/services/slugs'
import { PASSWORD_MIN_LENGTH, passwordWeakness } from '#modules/identity/services/password_policy'

export class ProvisioningError extends Error {}

/** For operators (ace commands) and first start: create accounts and tenants without the HTTP API. */
export const provisioning = {
  async createUser(input: { email: string; name: string; password: string; superadmin?: boolean }) {
    if (input.password.length < PASSWORD_MIN_LENGTH)
      throw new ProvisioningError(`The password needs at least ${PASSWORD_MIN_LENGTH} characters`)
    const weakness = passwordWeakness(input.password, input.email)
    if (weakness) throw new ProvisioningError(weakness)
    const email = normalizeEmail(input.email)
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
      throw new ProvisioningError(`Not an email address: ${input.email}`)
    const existing = await db.from('identity_users').where('email', email).first()
    if (existing) throw new ProvisioningError(`An account with ${email} already exists`)
    const id = newId()
    await db.table('identity_users').insert({
      id,
      email,
      name: input.name,
      password_hash: await hash.make(input.password),
      is_superadmin: input.superadmin ?? false,
      // An operator typed this address on the server: it needs no mailed proof.
      email_verified_at: db.raw('now()'),
    })
    return { id, email }
  },

  async promoteToSuperadmin(email: string) {
    const updated = await db
      .from('identity_users')
      .where('email', normalizeEmail(email))
      .update({ is_superadmin: true, updated_at: db.raw('now()') })
    if (!updated) throw new ProvisioningError(`No account with ${email}`)
  },

  async createTenant(input: { name: string; ownerEmail: string }) {
    const owner = await db
      .from('identity_users')
      .where('email', normalizeEmail(input.ownerEmail))
      .first()
    if (!owner) throw new ProvisioningError(`No account with ${input.ownerEmail}; create it first`)
    const tenantId = newId()
    await tenancy.run(
      tenantId,
      async (trx) => {
        await trx
          .table('identity_tenants')
          .insert({ id: tenantId, name: input.name, slug: tenantSlug(input.name) })
        await trx
          .table('identity_memberships')
          .insert({ id: newId(), tenant_id: tenantId, user_id: owner.id, role: 'owner' })
      },
      { userId: owner.id }
    )
    return { id: tenantId, ownerId: owner.id as string }
  },

  /**
   * On a database with no accounts yet: a demo tenant and its owner (also a
   * platform superadmin) with a random password, returned once for printing.
   */
  async seedDemoIfEmpty() {
    return db.transaction(async (trx) => {
      await trx.rawQuery('SELECT pg_advisory_xact_lock(hashtext(?))', ['identity_demo_seed'])
      // With MIGRATE_ON_START=false the tables may not exist yet: nothing to seed into.
      const { rows } = await trx.rawQuery(
        `SELECT to_regclass('identity_users') IS NOT NULL AS ready`
      )
      if (!rows[0].ready) return null
      const [{ count }] = await trx.from('identity_users').count('* as count')
      if (Number(count) > 0) return null
      const email = 'owner@demo.atrium.local'
      const password = randomBytes(12).toString('base64url')
      const userId = newId()
      const tenantId = newId()
      await trx.table('identity_users').insert({
        id: userId,
        email,
        name: 'Demo Owner',
        password_hash: await hash.make(password),
        is_superadmin: true,
        email_verified_at: trx.raw('now()'),
      })
      await trx
        .table('identity_tenants')
        .insert({ id: tenantId, name: 'Demo', slug: tenantSlug('Demo') })
      await tenancy.enter(trx, { tenantId, userId })
      await trx
        .table('identity_memberships')
        .insert({ id: newId(), tenant_id: tenantId, user_id: userId, role: 'owner' })
      return { email, password, tenantId }
    })
  },
}
