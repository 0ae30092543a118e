import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { probeServices, type ProbeResult } from '#app/platform/service_probes'

type StoredProviders =
  | Awaited<ReturnType<typeof import('#modules/gateway/index').checkStoredProviders>>
  | { checks: []; total: 0; error: string }

/**
 * One look at everything Atrium depends on: the runtime, the database and each
 * optional service (configured or not, reachable or not). Exits 1 when the
 * database or any configured service cannot be reached.
 */
export default class AtriumDoctor extends BaseCommand {
  static commandName = 'atrium:doctor'
  static description =
    'Check Node, the database and every configured service (Redis, Elasticsearch, Kafka, RabbitMQ, Ollama)'
  static options: CommandOptions = { startApp: true }

  @flags.boolean({ description: 'Print the report as JSON' })
  declare json: boolean

  async run() {
    const { default: env } = await import('#start/env')
    const results: ProbeResult[] = [
      this.#node(),
      await this.#database(),
      ...(await probeServices({
        redisUrl: env.get('REDIS_URL'),
        elasticsearchUrl: env.get('ELASTICSEARCH_URL'),
        kafkaBrokers: env.get('KAFKA_BROKERS'),
        amqpUrl: env.get('AMQP_URL'),
        ollamaHost: env.get('OLLAMA_HOST'),
        openaiBaseUrl: env.get('OPENAI_BASE_URL'),
        openaiApiKey: env.get('OPENAI_API_KEY')?.release(),
      })),
    ]

    const healthy = results.every((result) => result.reachable !== false)
    const providers = await this.#storedProviders()
    if (this.json) {
      this.logger.log(JSON.stringify({ healthy, results, providers }, null, 2))
    } else {
      const table = this.ui.table()
      table.head(['Service', 'Status', 'Detail', 'ms'])
      for (const result of results) {
        const status = !result.configured
          ? this.colors.dim('not configured')
          : result.reachable
            ? this.colors.green('ok')
            : this.colors.red('unreachable')
        table.row([
          result.service,
          status,
          result.configured ? result.detail : '',
          result.ms?.toString() ?? '',
        ])
      }
      table.render()
      this.logger.log(
        healthy ? 'All configured services answer.' : 'Some configured services do not answer.'
      )
      this.#printProviders(providers)
    }
    if (!healthy) this.exitCode = 1
  }

  /**
   * Tenants' own model providers, tested as an admin's "test" button does.
   * They are the tenants' to fix, so they inform the report but do not fail it.
   */
  async #storedProviders(): Promise<StoredProviders> {
    try {
      const { checkStoredProviders } = await import('#modules/gateway/index')
      return await checkStoredProviders()
    } catch (error) {
      return { checks: [], total: 0, error: (error as Error).message.split('\n')[0] }
    }
  }

  #printProviders(providers: StoredProviders) {
    if ('error' in providers) {
      this.logger.warning(`Stored providers were not checked: ${providers.error}`)
      return
    }
    if (!providers.total) {
      this.logger.log('No tenant has stored a model provider.')
      return
    }
    const table = this.ui.table()
    table.head(['Tenant', 'Provider', 'Host', 'Status', 'Detail', 'ms'])
    for (const check of providers.checks) {
      table.row([
        check.tenantId.slice(0, 8),
        `${check.name} (${check.kind})`,
        check.host,
        check.problem ? this.colors.yellow('problem') : this.colors.green('ok'),
        check.problem ?? `${check.models.length} models`,
        check.latencyMs?.toString() ?? '',
      ])
    }
    table.render()
    if (providers.total > providers.checks.length) {
      this.logger.log(`Checked ${providers.checks.length} of ${providers.total} stored providers.`)
    }
  }

  #node(): ProbeResult {
    const major = Number(process.versions.node.split('.')[0])
    return {
      service: 'node',
      configured: true,
      reachable: major >= 24,
      detail:
        major >= 24
          ? `Node ${process.version}`
          : `Node ${process.version}; Atrium needs 24 or newer`,
      ms: null,
    }
  }

  async #database(): Promise<ProbeResult> {
    const started = performance.now()
    try {
      const { default: db } = await import('@adonisjs/lucid/services/db')
      const { rows } = await db.rawQuery('SELECT version() AS version, current_database() AS name')
      const version = String(rows[0].version).split(' on ')[0]
      return {
        service: 'database',
        configured: true,
        reachable: true,
        detail: `${version}, database ${rows[0].name}`,
        ms: Math.round(performance.now() - started),
      }
    } catch (error) {
      return {
        service: 'database',
        configured: true,
        reachable: false,
        detail: (error as Error).message.replace(/\/\/([^@/\s]*)@/g, '//***@').split('\n')[0],
        ms: null,
      }
    }
  }
}
