import logger from '@adonisjs/core/services/logger'
import mail from '@adonisjs/mail/services/main'
import env from '#start/env'

/**
 * The mail identity sends itself (verification links, invitations). Sent
 * after the transaction that created the token commits, in the background
 * of this process (mail.sendLater): registration does not wait for SMTP.
 * A message lost to a crash or an SMTP outage is sent again on request
 * (verification: POST /auth/verify-email/resend; invitations: a new one).
 */
function link(path: string, token: string) {
  const base = env.get('APP_URL')
  return base ? `${base.replace(/\/+$/, '')}${path}?token=${encodeURIComponent(token)}` : null
}

async function send(to: string, subject: string, text: string) {
  try {
    await mail.sendLater((message) => {
      message.to(to).subject(subject).text(text)
    })
  } catch (error) {
    logger.warn({ err: error, subject }, 'identity mail could not be queued')
  }
}

export const identityMail = {
  async verification(to: string, name: string, token: string) {
    const url = link('/verify-email', token)
    await send(
      to,
      'Confirm your email address',
      [
        `Hello ${name},`,
        '',
        'Confirm that this address is yours so that teams can add you to their workspace.',
        url ? `Open ${url}` : 'Send this code to POST /api/v1/auth/verify-email as {"token": "…"}:',
        '',
        token,
        '',
        'The code works once and expires in 24 hours. If you did not sign up, ignore this mail.',
      ].join('\n')
    )
  },

  async invitation(to: string, tenantName: string, role: string, token: string) {
    const url = link('/accept-invitation', token)
    await send(
      to,
      `You are invited to ${tenantName}`,
      [
        `You have been invited to join ${tenantName} as ${role}.`,
        '',
        url
          ? `Open ${url}`
          : 'Sign up or log in with this address, then send this code to POST /api/v1/invitations/accept as {"token": "…"}:',
        '',
        token,
        '',
        'The invitation expires in 7 days.',
      ].join('\n')
    )
  },
}
