import { BaseCommand } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

/**
 * Retires the current JWT signing key and creates a new one. Tokens signed by
 * the old key keep verifying until they expire (15 minutes), so nobody is
 * logged out; run it on a schedule or after a suspected key leak.
 */
export default class IdentityRotateKeys extends BaseCommand {
  static commandName = 'identity:rotate-keys'
  static description = 'Rotate the JWT signing key (old tokens stay valid until they expire)'
  static options: CommandOptions = { startApp: true }

  async run() {
    const { signingKeys } = await import('#modules/identity/index')
    const { newKid, retiredKids } = await signingKeys.rotate()
    this.logger.success(`New signing key ${newKid}`)
    for (const kid of retiredKids)
      this.logger.info(`Retired ${kid}: verifies tokens until they expire`)
  }
}
