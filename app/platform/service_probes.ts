import { connect as amqpConnect } from 'amqplib'
import { Kafka, logLevel } from 'kafkajs'
import { Ollama } from 'ollama'
import { Client as ElasticsearchClient } from '@elastic/elasticsearch'
import { Redis } from 'ioredis'

export interface ProbeResult {
  service: string
  configured: boolean
  reachable: boolean | null
  detail: string
  ms: number | null
}

const TIMEOUT_MS = 3000

/** Runs `check` with a deadline; the answer is the service's own version or a short error. */
async function probe(
  service: string,
  target: string | undefined,
  check: (target: string) => Promise<string>
) {
  if (!target) {
    return {
      service,
      configured: false,
      reachable: null,
      detail: 'not configured',
      ms: null,
    } as ProbeResult
  }
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
    })
    const detail = await Promise.race([check(target), deadline])
    return {
      service,
      configured: true,
      reachable: true,
      detail,
      ms: Math.round(performance.now() - started),
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { service, configured: true, reachable: false, detail: redact(message), ms: null }
  } finally {
    clearTimeout(timer)
  }
}

function redact(text: string) {
  return text
    .replace(/\/\/([^@/\s]*)@/g, '//***@')
    .split('\n')[0]
    .slice(0, 200)
}

export interface ProbeTargets {
  redisUrl?: string
  elasticsearchUrl?: string
  kafkaBrokers?: string
  amqpUrl?: string
  ollamaHost?: string
  openaiBaseUrl?: string
  openaiApiKey?: string
}

/** Checks each optional service with its real client; an unset one is reported as not configured. */
export function probeServices(targets: ProbeTargets): Promise<ProbeResult[]> {
  return Promise.all([
    probe('redis', targets.redisUrl, async (url) => {
      const client = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      })
      try {
        await client.connect()
        const info = await client.info('server')
        return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`
      } finally {
        client.disconnect()
      }
    }),
    probe('elasticsearch', targets.elasticsearchUrl, async (url) => {
      const client = new ElasticsearchClient({
        node: url,
        requestTimeout: TIMEOUT_MS,
        maxRetries: 0,
      })
      try {
        const info = await client.info()
        return `Elasticsearch ${info.version.number}`
      } finally {
        await client.close()
      }
    }),
    probe('kafka', targets.kafkaBrokers, async (brokers) => {
      const admin = new Kafka({
        clientId: 'atrium-doctor',
        brokers: brokers.split(','),
        connectionTimeout: TIMEOUT_MS,
        retry: { retries: 0 },
        logLevel: logLevel.NOTHING,
      }).admin()
      try {
        await admin.connect()
        const cluster = await admin.describeCluster()
        return `Kafka cluster ${cluster.clusterId} (${cluster.brokers.length} broker(s))`
      } finally {
        await admin.disconnect()
      }
    }),
    probe('rabbitmq', targets.amqpUrl, async (url) => {
      const connection = await amqpConnect(url, { timeout: TIMEOUT_MS })
      try {
        const properties = connection.connection.serverProperties
        return `${properties.product ?? 'AMQP'} ${properties.version ?? ''}`.trim()
      } finally {
        await connection.close()
      }
    }),
    probe('ollama', targets.ollamaHost, async (host) => {
      const { version } = await new Ollama({ host }).version()
      return `Ollama ${version}`
    }),
    probe('openai-compatible', targets.openaiBaseUrl, async (baseUrl) => {
      const response = await fetch(`${baseUrl.replace(/\/$/, '')}/models`, {
        headers: targets.openaiApiKey ? { authorization: `Bearer ${targets.openaiApiKey}` } : {},
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      if (!response.ok) throw new Error(`GET /models answered ${response.status}`)
      const body = (await response.json()) as { data?: unknown[] }
      return `${body.data?.length ?? 0} model(s)`
    }),
  ])
}
