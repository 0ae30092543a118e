import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import app from '@adonisjs/core/services/app'
import { until } from '#tests/helpers/waiting'

/** Where the file transport writes in tests (MAIL_DIR in .env.test). */
export const MAIL_DIR = () => app.makePath('tmp', 'mail-test')

async function mailsTo(address: string) {
  const files = await readdir(MAIL_DIR()).catch(() => [] as string[])
  const texts = await Promise.all(files.map((file) => readFile(join(MAIL_DIR(), file), 'utf8')))
  return texts.filter((text) => text.toLowerCase().includes(`to: ${address.toLowerCase()}`))
}

/**
 * Waits for the `count`-th mail to `address` (mail is sent in the background
 * after the request) and returns every mail to it so far.
 */
export async function waitForMail(address: string, count = 1) {
  let found: string[] = []
  const arrived = await until(async () => {
    found = await mailsTo(address)
    return found.length >= count
  }, 10_000)
  if (!arrived) throw new Error(`no mail #${count} to ${address} arrived`)
  return found
}

/** The first `atr_…` code of a given prefix in a mail. */
export function codeIn(mail: string, prefix: string) {
  const match = new RegExp(`${prefix}[A-Za-z0-9_-]+`).exec(mail)
  if (!match) throw new Error(`no ${prefix} code in the mail`)
  return match[0]
}
