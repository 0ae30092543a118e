import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig, transports } from '@adonisjs/mail'
import { FileMailTransport } from '#app/platform/file_mail_transport'

/**
 * SMTP when SMTP_HOST is set; otherwise every message is written to
 * storage/mail as an .eml file (visible, never silently dropped).
 */
const mailConfig = defineConfig({
  default: env.get('SMTP_HOST') ? 'smtp' : 'file',
  from: { address: env.get('MAIL_FROM') ?? 'atrium@localhost', name: 'Atrium' },
  mailers: {
    smtp: transports.smtp({
      host: env.get('SMTP_HOST') ?? 'localhost',
      port: env.get('SMTP_PORT') ?? 587,
      secure: env.get('SMTP_PORT') === 465,
      ...(env.get('SMTP_USERNAME')
        ? {
            auth: {
              type: 'login' as const,
              user: env.get('SMTP_USERNAME')!,
              pass: env.get('SMTP_PASSWORD')?.release() ?? '',
            },
          }
        : {}),
    }),
    file: () => new FileMailTransport(env.get('MAIL_DIR') ?? app.makePath('storage', 'mail')),
  },
})

export default mailConfig

declare module '@adonisjs/mail/types' {
  export interface MailersList extends InferMailers<typeof mailConfig> {}
}
