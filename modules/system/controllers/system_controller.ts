import type { HttpContext } from '@adonisjs/core/http'
import { systemInfo } from '#modules/system/services/system_info'

export default class SystemController {
  ping({ response }: HttpContext) {
    return response.ok({ pong: true, time: new Date().toISOString() })
  }

  info({ response }: HttpContext) {
    return response.ok(systemInfo())
  }
}
