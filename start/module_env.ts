/*
| The environment variables each module reads (its env.ts), validated at boot
| with the platform's in start/env.ts — so a module keeps its settings in its
| own folder and a bad value still stops boot with one line. make:module adds
| a new module's here.
*/
import { gatewayEnv } from '#modules/gateway/env'
import { notificationsEnv } from '#modules/notifications/env'
import { chatEnv } from '#modules/chat/env'

export const MODULE_ENV = {
  ...gatewayEnv,
  ...notificationsEnv,
  ...chatEnv,
}
