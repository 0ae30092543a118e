/*
| Public face of the gateway: other modules (chat, creator) call models
| through `gateway`, acting for a user (or a key), with the same routing,
| fallbacks, quotas, budgets and usage accounting as /v1.
*/
export {
  gateway,
  type CallOptions,
  type Metered,
  type Ticket,
} from '#modules/gateway/services/service'
export type { Caller } from '#modules/gateway/services/gateway'
export type { ChatParams, Usage } from '#modules/gateway/services/upstreams'
export type { KeyLimits as QuotaLimits } from '#modules/gateway/services/keys'
export { checkStoredProviders } from '#modules/gateway/services/diagnostics'
