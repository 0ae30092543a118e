/*
| Public face of notifications: the notify() facade every module uses inside
| its unit of work, and the webhook signature scheme (for docs and receivers'
| tests). Which events webhooks carry is declared by the modules that publish
| them (webhookEvents in their module.ts); notifications imports none of them.
*/
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { inbox, outboundMail, type Notice } from '#modules/notifications/services/notifications'

export type { Notice } from '#modules/notifications/services/notifications'

export { sign as signWebhookBody } from '#modules/notifications/services/webhooks'

export const notifications = {
  /**
   * Records an in-app notification (and queues its mail) in the caller's
   * unit of work: it exists if and only if the change it reports commits.
   */
  async notify(trx: TransactionClientContract, notice: Notice) {
    await inbox.notify(trx, notice.tenantId, notice)
    if (notice.email) {
      await outboundMail.queue(trx, notice.tenantId, { ...notice.email, eventId: notice.eventId })
    }
  },
}
