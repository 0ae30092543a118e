import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

/** Creates a tenant owned by an existing account. */
export default class TenantsCreate extends BaseCommand {
  static commandName = 'tenants:create'
  static description = 'Create a tenant with an existing account as its owner'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Tenant name' })
  declare name?: string

  @flags.string({ description: "Owner's email (the account must exist)" })
  declare owner?: string

  async run() {
    const { provisioning, ProvisioningError } = await import('#modules/identity/index')
    try {
      const name = this.name ?? (await this.prompt.ask('Tenant name')) ?? ''
      const ownerEmail = this.owner ?? (await this.prompt.ask("Owner's email")) ?? ''
      const tenant = await provisioning.createTenant({ name, ownerEmail })
      this.logger.success(`Created tenant "${name}" (${tenant.id}) owned by ${ownerEmail}`)
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
