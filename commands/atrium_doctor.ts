import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { probeServices, type ProbeResult } from '#app/platform/service_probes'

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
    if (this.json) {
      this.logger.log(JSON.stringify({ healthy, results }, null, 2))
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
    }
    if (!healthy) this.exitCode = 1
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
