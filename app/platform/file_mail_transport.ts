import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import logger from '@adonisjs/core/services/logger'
import { MailResponse } from '@adonisjs/mail'
import type { MailTransportContract, NodeMailerMessage } from '@adonisjs/mail/types'

/**
 * Without SMTP configured, mail is not dropped: each message is rendered as
 * an .eml file under storage/mail (open it with any mail client) and a log
 * line says where.
 */
export class FileMailTransport implements MailTransportContract {
  #renderer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })

  constructor(private directory: string) {}

  async send(message: NodeMailerMessage) {
    const info = await this.#renderer.sendMail(message)
    await mkdir(this.directory, { recursive: true })
    const file = join(
      this.directory,
      `${Date.now()}-${info.messageId.replace(/[^\w.-]+/g, '_')}.eml`
    )
    await writeFile(file, info.message as Buffer)
    logger.info(
      { file, to: info.envelope.to, subject: message.subject },
      'mail written to a file (no SMTP configured)'
    )
    return new MailResponse(info.messageId, info.envelope, { file })
  }
}
