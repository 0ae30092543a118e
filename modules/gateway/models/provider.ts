import encryption from '@adonisjs/core/services/encryption'
import { column, computed } from '@adonisjs/lucid/orm'
import { internal } from '#app/platform/columns'
import { GatewayProviderSchema } from '#database/schema'

export type ProviderKind = 'ollama' | 'openai-compatible'
/** How /v1/responses reaches it: translated to chat completions, or passed to its own /responses. */
export type ResponsesApi = 'translate' | 'native'

const PURPOSE = 'gateway.provider_api_key'

/** An upstream LLM server of a tenant. Its API key is stored encrypted and never shown. */
export default class Provider extends GatewayProviderSchema {
  static table = 'gateway_providers'

  @column(internal)
  declare tenantId: string
  @column()
  declare kind: ProviderKind
  @column()
  declare responsesApi: ResponsesApi
  @column(internal)
  declare apiKeyEncrypted: string | null

  /** Whether a key is set is all a client learns. */
  @computed()
  get hasApiKey() {
    return Boolean(this.apiKeyEncrypted)
  }

  get apiKey(): string | null {
    return this.apiKeyEncrypted ? encryption.decrypt<string>(this.apiKeyEncrypted, PURPOSE) : null
  }

  set apiKey(value: string | null) {
    this.apiKeyEncrypted = value ? encryption.encrypt(value, undefined, PURPOSE) : null
  }
}
