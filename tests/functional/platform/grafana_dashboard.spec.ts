/*
| The Grafana dashboard and the compose monitoring profile are code too: this
| checks every query against what /metrics really exposes (after gateway
| traffic that fills the series), so a renamed metric or label breaks a test,
| not a dashboard nobody looks at until an incident.
*/
import { test } from '@japa/runner'
import { readFile, stat } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import app from '@adonisjs/core/services/app'
import { resetIdentity } from '#tests/helpers/identity'
import { createProvider, gatewayTenant, openaiClient, resetGateway } from '#tests/helpers/gateway'
import { startOpenAiFake } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { metricsRegistry } from '#app/observability/metrics'
import { withinOneMinute } from '#tests/helpers/quotas'

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>
}

/** Metric name → the label names its samples carry, from the text exposition format. */
function exposed(text: string) {
  const metrics = new Map<string, Set<string>>()
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)/.exec(line)
    if (typed) {
      metrics.set(typed[1], metrics.get(typed[1]) ?? new Set())
      continue
    }
    const sample = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}/.exec(line)
    if (!sample) continue
    const base = sample[1].replace(/_(bucket|count|sum)$/, '')
    const labels = metrics.get(base) ?? metrics.get(sample[1])
    for (const pair of sample[2].matchAll(/(\w+)="/g)) labels?.add(pair[1])
  }
  return metrics
}

const PREFIXES = /^(http_|gateway_|messaging_|process_|nodejs_)/

test.group('monitoring: the Grafana dashboard and the compose profile', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
  })

  test('every dashboard query names metrics and labels that /metrics exposes', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    // Traffic that fills every gateway series: an answer, a failed deployment with a fallback, a refusal.
    const healthy = await startOpenAiFake()
    const failing = await startOpenAiFake()
    failing.fallback = { kind: 'status', status: 500 }
    try {
      const { key, owner } = await gatewayTenant(client, healthy, {
        limits: { requestsPerMinute: 2 },
      })
      const broken = await createProvider(client, owner, {
        name: 'broken',
        kind: 'openai-compatible',
        baseUrl: `${failing.url}/v1`,
      })
      const healthyProvider = await client
        .get('/api/v1/gateway/providers')
        .bearerToken(owner.tokens.accessToken)
      await client
        .post('/api/v1/gateway/models')
        .bearerToken(owner.tokens.accessToken)
        .json({
          alias: 'with-fallback',
          inputPricePerMTok: 100,
          outputPricePerMTok: 200,
          deployments: [
            { providerId: broken.id, upstreamModel: 'x' },
            {
              providerId: healthyProvider
                .body()
                .data.find((entry: { name: string }) => entry.name === 'primary').id,
              upstreamModel: 'fake-model-1',
            },
          ],
        })
        .then((response) => response.assertStatus(201))
      const sdk = openaiClient(key.secret)
      const messages = [{ role: 'user' as const, content: 'hi' }]
      await sdk.chat.completions.create({ model: 'with-fallback', messages })
      await sdk.chat.completions.create({ model: 'chat-default', messages })
      const refused = await sdk.chat.completions
        .create({ model: 'chat-default', messages })
        .catch((error) => error)
      assert.equal(refused.status, 429)
    } finally {
      await healthy.close()
      await failing.close()
    }

    const scraped = await client.get('/metrics')
    scraped.assertStatus(200)
    const metrics = exposed(scraped.text())
    // A metric with no samples yet (no event delivered in this test) still declares its labels.
    for (const [name, labels] of metrics) {
      const declared = metricsRegistry.getSingleMetric(name) as unknown as
        { labelNames?: readonly string[] } | undefined
      for (const label of declared?.labelNames ?? []) labels.add(label)
    }
    const dashboard = JSON.parse(
      await readFile(app.makePath('docs/grafana/atrium.json'), 'utf8')
    ) as Dashboard
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr }))
    )
    assert.isAbove(queries.length, 15)
    for (const { panel, expr } of queries) {
      const names = [...expr.matchAll(/[a-z_:][a-z0-9_:]*/g)]
        .map((match) => match[0])
        .filter((word) => PREFIXES.test(word))
      assert.isAbove(names.length, 0, `${panel}: ${expr} names no Atrium metric`)
      for (const name of names) {
        const base = name.replace(/_(bucket|count|sum)$/, '')
        const labels = metrics.get(base) ?? metrics.get(name)
        assert.exists(labels, `${panel}: ${name} is not in /metrics`)
        const grouped = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((match) =>
          match[1].split(',').map((label) => label.trim())
        )
        const filtered = [...expr.matchAll(/(\w+)=~?"/g)].map((match) => match[1])
        for (const label of [...grouped, ...filtered]) {
          if (label === 'le') continue
          assert.isTrue(
            labels!.has(label),
            `${panel}: ${name} has no label ${label} (it has ${[...labels!].join(', ')})`
          )
        }
      }
    }
  })

  test('the monitoring profile provisions Prometheus and Grafana from files in the repository', async ({
    assert,
  }) => {
    const compose = parseYaml(await readFile(app.makePath('compose.yaml'), 'utf8')) as {
      services: Record<
        string,
        { profiles?: string[]; volumes?: string[]; environment?: Record<string, string> }
      >
      configs: Record<string, { content: string }>
    }
    for (const name of ['prometheus', 'grafana']) {
      const service = compose.services[name]
      assert.deepEqual(service.profiles, ['monitoring'])
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':')
        if (!source.startsWith('./')) continue
        await stat(app.makePath(source)).catch(() =>
          assert.fail(`${name} mounts ${source}, which is missing`)
        )
      }
    }
    assert.equal(compose.services.atrium.environment?.METRICS_TOKEN, '${METRICS_TOKEN:-}')
    assert.equal(compose.configs.metrics_token.content, '${METRICS_TOKEN:-}')

    const prometheus = parseYaml(
      await readFile(app.makePath('deploy/monitoring/prometheus.yml'), 'utf8')
    ) as {
      scrape_configs: Array<{
        metrics_path: string
        authorization: { credentials_file: string }
        static_configs: Array<{ targets: string[] }>
      }>
    }
    const [job] = prometheus.scrape_configs
    assert.equal(job.metrics_path, '/metrics')
    assert.deepEqual(job.static_configs[0].targets, ['atrium:3333'])
    assert.equal(job.authorization.credentials_file, '/etc/prometheus/metrics_token')

    const provider = parseYaml(
      await readFile(
        app.makePath('deploy/monitoring/grafana/provisioning/dashboards/atrium.yaml'),
        'utf8'
      )
    ) as { providers: Array<{ options: { path: string } }> }
    const grafanaMounts = compose.services.grafana.volumes ?? []
    assert.include(grafanaMounts, `./docs/grafana:${provider.providers[0].options.path}:ro`)
  })
})
