import { tenancy } from '#app/tenancy/tenancy'
import {
  parseItemId,
  responseId,
  type ChatMessage,
  type OutputItem,
  type ResponseObject,
  type StoredTurn,
} from '#modules/gateway/services/responses'

/** How long a stored response can be read or built on (OpenAI keeps them 30 days too). */
export const RESPONSE_TTL_DAYS = 30
/** The longest previous_response_id chain followed; older turns are left out. */
const MAX_CHAIN = 500

/**
 * JSON for a jsonb column: PostgreSQL refuses the NUL character in jsonb text,
 * and a model may write one (clients cannot: the input guard refuses it).
 */
function storable(value: unknown) {
  return JSON.stringify(value, (_key, field: unknown) =>
    typeof field === 'string' ? field.replaceAll('\u0000', '') : field
  )
}

/** Whose responses: a tenant's key, which alone may read what it stored. */
export interface ResponseOwner {
  tenantId: string
  keyId: string
}

/**
 * /v1/responses kept for previous_response_id, item_reference and
 * GET/DELETE /v1/responses/:id. A row holds one request's new input (as chat
 * messages) and its finished response; a conversation is the chain of rows.
 */
export const responseStore = {
  async save(
    owner: ResponseOwner,
    uuid: string,
    entry: {
      previousUuid: string | null
      alias: string
      inputMessages: ChatMessage[]
      response: ResponseObject
    }
  ) {
    await tenancy.run(owner.tenantId, (trx) =>
      trx.table('gateway_responses').insert({
        id: uuid,
        tenant_id: owner.tenantId,
        key_id: owner.keyId,
        previous_response_id: entry.previousUuid,
        model_alias: entry.alias,
        input_messages: storable(entry.inputMessages),
        response: storable(entry.response),
        expires_at: trx.raw(`now() + make_interval(days => ?)`, [RESPONSE_TTL_DAYS]),
      })
    )
  },

  async find(owner: ResponseOwner, uuid: string): Promise<ResponseObject | null> {
    const row = await tenancy.run(
      owner.tenantId,
      (trx) =>
        trx
          .from('gateway_responses')
          .where({ id: uuid, key_id: owner.keyId })
          .where('expires_at', '>', trx.raw('now()'))
          .select('response')
          .first(),
      { readOnly: true }
    )
    return (row?.response as ResponseObject | undefined) ?? null
  },

  async remove(owner: ResponseOwner, uuid: string) {
    const deleted = await tenancy.run(owner.tenantId, (trx) =>
      trx.from('gateway_responses').where({ id: uuid, key_id: owner.keyId }).delete()
    )
    return Number(deleted) > 0
  },

  /**
   * The conversation up to and including `uuid`, oldest first, in one
   * statement; null when the response is not this key's (or expired).
   */
  async chain(owner: ResponseOwner, uuid: string): Promise<StoredTurn[] | null> {
    const rows = await tenancy.run(
      owner.tenantId,
      async (trx) => {
        const result = await trx.rawQuery(
          `WITH RECURSIVE chain AS (
           SELECT id, previous_response_id, input_messages, response -> 'output' AS output, 1 AS depth
             FROM gateway_responses
            WHERE id = ? AND key_id = ? AND expires_at > now()
           UNION ALL
           SELECT r.id, r.previous_response_id, r.input_messages, r.response -> 'output', c.depth + 1
             FROM gateway_responses r
             JOIN chain c ON r.id = c.previous_response_id
            WHERE r.key_id = ? AND r.expires_at > now() AND c.depth < ?
         )
         SELECT input_messages, output FROM chain ORDER BY depth DESC`,
          [uuid, owner.keyId, owner.keyId, MAX_CHAIN]
        )
        return result.rows as Array<{ input_messages: ChatMessage[]; output: OutputItem[] }>
      },
      { readOnly: true }
    )
    if (!rows.length) return null
    return rows.map((row) => ({ inputMessages: row.input_messages, output: row.output }))
  },

  /** The stored output items these ids name, where they are this key's. */
  async items(owner: ResponseOwner, ids: string[]): Promise<Map<string, OutputItem>> {
    const found = new Map<string, OutputItem>()
    const wanted = new Map<string, Array<{ id: string; index: number }>>()
    for (const id of ids) {
      const parsed = parseItemId(id)
      if (!parsed) continue
      const list = wanted.get(parsed.responseUuid) ?? []
      list.push({ id, index: parsed.index })
      wanted.set(parsed.responseUuid, list)
    }
    if (!wanted.size) return found
    const rows = await tenancy.run(
      owner.tenantId,
      (trx) =>
        trx
          .from('gateway_responses')
          .whereIn('id', [...wanted.keys()])
          .where('key_id', owner.keyId)
          .where('expires_at', '>', trx.raw('now()'))
          .select('id', trx.raw(`response -> 'output' AS output`)),
      { readOnly: true }
    )
    for (const row of rows as Array<{ id: string; output: OutputItem[] }>) {
      for (const { id, index } of wanted.get(row.id) ?? []) {
        const item = row.output[index]
        // The id must match too: msg_ and fc_ of the same index are not interchangeable.
        if (item && item.id === id) found.set(id, item)
      }
    }
    return found
  },

  responseId,
}
