import { randomBytes } from 'node:crypto'
import hash from '@adonisjs/core/services/hash'
import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { DateTime } from 'luxon'
import Membership from '#modules/identity/models/membership'
import Tenant from '#modules/identity/models/tenant'
import User from '#modules/identity/models/user'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { normalizeEmail } from '#modules/identity/services/accounts'
import { tenantSlug } from '#modules/identity/services/slugs'
import { PASSWORD_MIN_LENGTH, passwordWeakness } from '#modules/identity/services/password_policy'

export class ProvisioningError extends Error {}

/** A tenant and its owner's membership, in the caller's unit of work (inside that tenant). */
async function createOwnedTenant(
  trx: TransactionClientContract,
  tenantId: string,
  name: string,
  ownerId: string
) {
  await Tenant.create({ id: tenantId, name, slug: tenantSlug(name) }, { client: trx })
  await Membership.create(
    { id: newId(), tenantId, userId: ownerId, role: 'owner' },
    { client: trx }
  )
}

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
    if (await User.findBy('email', email)) {
      throw new ProvisioningError(`An account with ${email} already exists`)
    }
    const user = await User.create({
      id: newId(),
      email,
      name: input.name,
      passwordHash: await hash.make(input.password),
      isSuperadmin: input.superadmin ?? false,
      // An operator typed this address on the server: it needs no mailed proof.
      emailVerifiedAt: DateTime.now(),
      disabledAt: null,
    })
    return { id: user.id, email }
  },

  async promoteToSuperadmin(email: string) {
    const user = await User.findBy('email', normalizeEmail(email))
    if (!user) throw new ProvisioningError(`No account with ${email}`)
    user.isSuperadmin = true
    await user.save()
  },

  async createTenant(input: { name: string; ownerEmail: string }) {
    const owner = await User.findBy('email', normalizeEmail(input.ownerEmail))
    if (!owner) throw new ProvisioningError(`No account with ${input.ownerEmail}; create it first`)
    const tenantId = newId()
    await tenancy.run(tenantId, (trx) => createOwnedTenant(trx, tenantId, input.name, owner.id), {
      userId: owner.id,
    })
    return { id: tenantId, ownerId: owner.id }
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
      if (await User.query({ client: trx }).first()) return null
      const email = 'owner@demo.atrium.local'
      const password = randomBytes(12).toString('base64url')
      const user = await User.create(
        {
          id: newId(),
          email,
          name: 'Demo Owner',
          passwordHash: await hash.make(password),
          isSuperadmin: true,
          emailVerifiedAt: DateTime.now(),
          disabledAt: null,
        },
        { client: trx }
      )
      const tenantId = newId()
      await tenancy.enter(trx, { tenantId, userId: user.id })
      await createOwnedTenant(trx, tenantId, 'Demo', user.id)
      return { email, password, tenantId }
    })
  },
}
