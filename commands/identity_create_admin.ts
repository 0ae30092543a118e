import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

/**
 * Creates a platform administrator (superadmin), asking for what the flags do
 * not give. Scripts pass --email and --name, and the password in
 * ATRIUM_ADMIN_PASSWORD with --password-from-env (never on the command line,
 * where it would land in shell history and the process list).
 */
export default class IdentityCreateAdmin extends BaseCommand {
  static commandName = 'identity:create-admin'
  static description =
    'Create a platform administrator (or promote an existing account with --promote)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Email of the administrator' })
  declare email?: string

  @flags.string({ description: 'Display name' })
  declare name?: string

  @flags.boolean({ description: 'Read the password from ATRIUM_ADMIN_PASSWORD instead of asking' })
  declare passwordFromEnv?: boolean

  @flags.boolean({ description: 'Make an existing account a superadmin instead of creating one' })
  declare promote?: boolean

  async run() {
    const { provisioning, ProvisioningError } = await import('#modules/identity/index')
    try {
      const email = this.email ?? (await this.prompt.ask('Email')) ?? ''
      if (this.promote) {
        await provisioning.promoteToSuperadmin(email)
        this.logger.success(`${email} is now a platform administrator`)
        return
      }
      const name =
        this.name ??
        (await this.prompt.ask('Name', { default: 'Administrator' })) ??
        'Administrator'
      const password = this.passwordFromEnv
        ? (process.env.ATRIUM_ADMIN_PASSWORD ?? '')
        : await this.prompt.secure('Password (12+ characters)')
      const user = await provisioning.createUser({ email, name, password, superadmin: true })
      this.logger.success(`Created platform administrator ${user.email} (${user.id})`)
    } catch (error) {
      if (error instanceof ProvisioningError) {
        this.logger.error(error.message)
        this.exitCode = 1
        return
      }
      throw error
    }
  }
}
