/*
| Public face of the gateway: other modules (chat, creator) call models
| through these, with the same routing, fallbacks and (soon) limits and
| accounting as /v1.
*/
export {
  chat,
  chatStream,
  embed,
  listModels,
  resolveModel,
  type Caller,
} from '#modules/gateway/services/gateway'
export type { ChatParams, Usage } from '#modules/gateway/services/upstreams'
