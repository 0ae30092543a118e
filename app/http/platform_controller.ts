import { createReadStream } from 'node:fs'
import type { HttpContext } from '@adonisjs/core/http'
import { metricsRegistry } from '#app/observability/metrics'
// Registers the outbox gauges, so every process (web-only ones too) reports the shared backlog.
import '#app/messaging/metrics'
import { readinessChecks } from '#app/observability/health'
import { currentDocument } from '#app/openapi/registry'
import { DOCS_ASSETS, docsAssetPath, docsHtml, docsInitScript } from '#app/openapi/docs_page'

/** Routes every Atrium process serves, whatever modules it mounts. */
export default class PlatformController {
  live({ response }: HttpContext) {
    return response.ok({ status: 'ok' })
  }

  async ready({ response }: HttpContext) {
    const report = await readinessChecks().run()
    const checks = report.checks.map((check) => ({
      name: check.name,
      status: check.status,
      message: check.message,
    }))
    const status = !report.isHealthy ? 'error' : report.status === 'warning' ? 'degraded' : 'ok'
    const body = { status, checks }
    return report.isHealthy ? response.ok(body) : response.serviceUnavailable(body)
  }

  async metrics({ response }: HttpContext) {
    response.header('content-type', metricsRegistry.contentType)
    return response.send(await metricsRegistry.metrics())
  }

  openapi({ response }: HttpContext) {
    return response.ok(currentDocument())
  }

  docs({ response }: HttpContext) {
    response.header('content-type', 'text/html; charset=utf-8')
    return response.send(docsHtml)
  }

  docsInit({ response }: HttpContext) {
    response.header('content-type', 'text/javascript; charset=utf-8')
    return response.send(docsInitScript)
  }

  docsAsset({ params, response }: HttpContext) {
    const path = docsAssetPath(params.name)
    if (!path) return response.notFound({ status: 404 })
    response.header('content-type', DOCS_ASSETS[params.name])
    response.header('cache-control', 'public, max-age=86400')
    return response.stream(createReadStream(path))
  }
}
