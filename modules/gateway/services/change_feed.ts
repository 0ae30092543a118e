/*
| The gateway's cache invalidation rides the kernel's change feed (one LISTEN
| connection per process, app/platform/feed_cache.ts); these are its channels.
*/
export const KEYS_CHANNEL = 'atrium_gateway_keys'
export const CONFIG_CHANNEL = 'atrium_gateway_config'
