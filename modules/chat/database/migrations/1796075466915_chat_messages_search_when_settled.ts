import { BaseSchema } from '@adonisjs/lucid/schema'

const SETTLED = `CASE WHEN status = 'generating' THEN NULL ELSE to_tsvector('simple', content) END`
const ALWAYS = `to_tsvector('simple', content)`

/**
 * A reply's searchable words are computed once it has settled (complete,
 * cancelled or failed), not at each partial save while it streams. PostgreSQL
 * recomputes a stored generated column on every UPDATE of the row, so each
 * save (every CHAT_SAVE_EVERY_MS per streaming reply) re-parsed the whole
 * text so far and inserted every word into the GIN index again: quadratic in
 * a reply's length (`npm run bench:chat-saves` measures it). A NULL vector
 * costs nothing and leaves the index alone.
 *
 * PostgreSQL 15 cannot change a generated column's expression in place (17
 * has SET EXPRESSION), so the column is dropped and added again: a rewrite of
 * chat_messages under an exclusive lock, once, as part of this deploy.
 */
export default class extends BaseSchema {
  async up() {
    this.replaceSearch(SETTLED)
  }

  async down() {
    this.replaceSearch(ALWAYS)
  }

  private replaceSearch(expression: string) {
    this.schema.raw(
      `ALTER TABLE chat_messages
         DROP COLUMN search,
         ADD COLUMN search tsvector GENERATED ALWAYS AS (${expression}) STORED`
    )
    this.schema.raw('CREATE INDEX chat_messages_search ON chat_messages USING gin (search)')
  }
}
