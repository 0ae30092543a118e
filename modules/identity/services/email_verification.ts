import { randomBytes } from 'node:crypto'
import { sha256Hex } from '#app/platform/digest'
import db from '@adonisjs/lucid/services/db'
import limiter from '@adonisjs/limiter/services/main'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { Principal } from '#app/auth/jwt_guard'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'
import { identityMail } from '#modules/identity/services/identity_mail'
import { recordAudit } from '#modules/identity/services/audit'
import { identityChanged } from '#modules/identity/services/identity_changes'

const TOKEN_PREFIX = 'atr_ev_'
const TTL_HOURS = 24
const RESENDS = { requests: 5, duration: '1 hour' } as const

const hashToken = sha256Hex

const invalidToken = () =>
  new ProblemException(
    404,
    'verification_not_found',
    'This verification code is invalid, used or expired; ask for a new one.'
  )

export const emailVerification = {
  /** Creates a single-use token for the user's current address (inside their unit of work). */
  async issue(trx: TransactionClientContract, user: { id: string; email: string }) {
    const token = `${TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`
    await trx.table('identity_email_verifications').insert({
      id: newId(),
      user_id: user.id,
      email: user.email,
      token_hash: hashToken(token),
      expires_at: trx.raw(`now() + make_interval(hours => ?)`, [TTL_HOURS]),
    })
    return token
  },

  /** Consumes a token: the address it was issued for is now verified. Works without signing in. */
  async verify(token: string) {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) throw invalidToken()
    return db.transaction(async (trx) => {
      // Locked: two presentations of one token cannot both succeed.
      const row = await trx
        .from('identity_email_verifications')
        .where('token_hash', hashToken(token))
        .whereNull('used_at')
        .where('expires_at', '>', trx.raw('now()'))
        .forUpdate()
        .first()
      if (!row) throw invalidToken()
      await trx
        .from('identity_email_verifications')
        .where('id', row.id)
        .update({ used_at: trx.raw('now()') })
      const [user] = await trx
        .from('identity_users')
        .where({ id: row.user_id, email: row.email })
        .update({
          email_verified_at: trx.raw('coalesce(email_verified_at, now())'),
          updated_at: trx.raw('now()'),
        })
        .returning(['id', 'email'])
      if (!user) throw invalidToken()
      identityChanged(trx, `u:${user.id}`)
      await recordAudit('email.verified', { actorUserId: user.id, subjectUserId: user.id }, trx)
      return { email: user.email as string, emailVerified: true }
    })
  },

  /** A new code for the signed-in user, at most five an hour. */
  async resend(principal: Principal) {
    const allowed = await limiter
      .use(RESENDS)
      .attempt(`verify-email:user:${principal.userId}`, () => true)
    if (!allowed) {
      throw new ProblemException(
        429,
        'rate_limited',
        'Too many codes requested; try again later.',
        undefined,
        { 'Retry-After': '3600' }
      )
    }
    const issued = await db.transaction(async (trx) => {
      const user = await trx
        .from('identity_users')
        .where('id', principal.userId)
        .select('id', 'email', 'name', 'email_verified_at')
        .firstOrFail()
      if (user.email_verified_at) {
        throw new ProblemException(
          409,
          'already_verified',
          'This email address is already verified.'
        )
      }
      return { user, token: await emailVerification.issue(trx, user) }
    })
    await identityMail.verification(issued.user.email, issued.user.name, issued.token)
  },
}
