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
   * Records in-app notifications (and queues their mail) in the caller's
   * unit of work: they exist if and only if the change they report commits.
   * A handler settling a batch passes all of its notices at once.
   */
  async notify(trx: TransactionClientContract, ...notices: Notice[]) {
    await inbox.notifyAll(trx, notices)
    await outboundMail.queueAll(
      trx,
      notices.flatMap(({ tenantId, email, eventId }) =>
        email ? [{ ...email, tenantId, eventId }] : []
      )
    )
  },
}
