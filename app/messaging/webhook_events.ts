import type { JsonSchema } from '#app/openapi/types'

/** An integration event a module lets tenants receive by webhook. */
export interface WebhookEventDeclaration {
  description: string
  /** JSON Schema of the event's payload (`data` in the webhook body); published in /openapi.json. */
  payload: JsonSchema
}

const declared = new Map<string, WebhookEventDeclaration>()

/**
 * Filled from the module definitions (start/modules.ts) before anything
 * reads it: notifications offers exactly these types to webhooks, without
 * knowing the modules that publish them.
 */
export function declareWebhookEvents(events: Record<string, WebhookEventDeclaration>) {
  for (const [type, declaration] of Object.entries(events)) {
    if (!/^[a-z][a-z0-9_]*\.[a-z0-9_]+$/.test(type)) {
      throw new Error(`Webhook event types look like "module.fact", got "${type}"`)
    }
    declared.set(type, declaration)
  }
}

export function webhookEventTypes(): string[] {
  return [...declared.keys()].sort()
}

export function webhookEventDeclarations(): Array<[string, WebhookEventDeclaration]> {
  return [...declared.entries()].sort(([a], [b]) => a.localeCompare(b))
}
