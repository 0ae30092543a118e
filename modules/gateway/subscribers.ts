/*
| What the gateway does when other modules' facts arrive: a member who left
| a tenant loses the API keys they created or that act for them.
*/
import { subscribe } from '#app/messaging/subscribers'
import { keys } from '#modules/gateway/services/keys'
import '#modules/identity/index'

subscribe('identity.member_removed', 'gateway.revoke_departed_member_keys', async (event, trx) => {
  await keys.revokeForDepartedMember(trx, event.tenantId!, event.payload.userId)
})
