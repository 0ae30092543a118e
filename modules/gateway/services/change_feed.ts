/*
| The gateway's cache invalidation rides the kernel's change feed (one LISTEN
| connection per process); these are its channels.
*/
export { changeFeed } from '#app/platform/change_feed'

export const KEYS_CHANNEL = 'atrium_gateway_keys'
export const CONFIG_CHANNEL = 'atrium_gateway_config'
