import { createHash } from 'node:crypto'
import pg from 'pg'

/**
 * node-postgres' Query with other statements sent in front of it, all in one
 * extended-protocol sequence that ends in the query's own single Sync: one
 * write, one round trip. PostgreSQL skips every message after a failed one up
 * to the Sync, so when a statement in front fails (a role, a setting), the
 * query behind it never runs. The callback gets the query's own result.
 *
 * How the unit of work's entry (begin_with_settings.ts) and tenancy.read
 * (one_trip_read.ts) put the role and settings in front of a statement.
 */
export interface Statement {
  text: string
  values: unknown[]
  /**
   * A prepared statement's name: parsed and planned once per connection,
   * then only bound and run. For constant text only (each name is one
   * statement kept by PostgreSQL for the connection's life).
   */
  name?: string
}

interface PreparedConnection {
  parsedStatements: Record<string, string>
  parse(message: { text: string; name?: string }): void
  bind(message: {
    statement: string
    values: unknown[]
    valueMapper: (value: unknown) => unknown
  }): void
  describe(message: { type: 'P'; name: string }): void
  execute(message: Record<string, never>): void
  sync(): void
  close(message: { type: 'S'; name: string }): void
}

// pg's value conversion: on its default export at run time, not in its types.
const prepareValue = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils
  .prepareValue

export type QueryCallback = (error: Error | null, result?: unknown) => void

export class PrefixedQuery extends pg.Query {
  /**
   * `dropped`: how many leading results the callback does not get — by default
   * the prefix's, so it gets the query's own; fewer hand back some of the
   * prefix's too, in order (an array whenever more than one result is kept).
   */
  constructor(
    config: { text: string; values?: unknown[]; name?: string },
    private prefix: Statement[],
    callback: QueryCallback,
    dropped = prefix.length
  ) {
    let self: PrefixedQuery | undefined
    // pg passes an array of results here (the prefix's, then the query's); @types/pg says one.
    super(config as never, undefined, ((error: Error | undefined, results: unknown) => {
      if (error) return callback(error)
      self?.rememberPrefixParsed()
      const list = results as unknown[]
      if (!Array.isArray(list) || list.length <= prefix.length) {
        return callback(new Error('PrefixedQuery: the statements in front did not all answer'))
      }
      const own = list.slice(dropped)
      callback(null, own.length === 1 ? own[0] : own)
    }) as never)
    self = this
  }

  /** The connection this query went out on, once prepare() has run. */
  #sentOn?: PreparedConnection

  /**
   * Named statements in front are known parsed only once the whole sequence
   * succeeded: its Parse then surely ran. After a failure they are sent
   * again (Close, then Parse), as the query's own name is.
   */
  rememberPrefixParsed() {
    const parsed = this.#sentOn?.parsedStatements
    if (!parsed) return
    for (const statement of this.prefix) {
      if (statement.name) parsed[statement.name] = statement.text
    }
  }

  /**
   * pg marks a named statement parsed at the first ParseComplete of the
   * sequence — which, here, may be a statement in front of it. So when
   * anything fails, forget it: the next use sends it again (after a Close).
   */
  handleError(error: Error, connection: { parsedStatements: Record<string, string> }) {
    const name = (this as unknown as { name?: string }).name
    if (name) delete connection.parsedStatements[name]
    ;(
      pg.Query.prototype as unknown as { handleError(e: Error, c: unknown): void }
    ).handleError.call(this, error, connection)
  }

  // Always the extended protocol, even without values: the prefix rides in front.
  requiresPreparation() {
    return true
  }

  prepare(connection: PreparedConnection) {
    const named = this as unknown as { name?: string; hasBeenParsed(c: unknown): boolean }
    if (named.name && !named.hasBeenParsed(connection)) {
      // A named statement this connection does not know as parsed may exist all the same (an
      // earlier sequence that failed after its Parse): drop it first, or the Parse would fail.
      // Closing a statement that does not exist is no error.
      connection.close({ type: 'S', name: named.name })
    }
    this.#sentOn = connection
    try {
      for (const statement of this.prefix) {
        if (!statement.name) {
          connection.parse({ text: statement.text })
        } else if (connection.parsedStatements[statement.name] === undefined) {
          connection.close({ type: 'S', name: statement.name })
          connection.parse({ text: statement.text, name: statement.name })
        }
        // pg's own conversion of values (booleans, dates, JSON), as for the query's.
        connection.bind({
          statement: statement.name ?? '',
          values: statement.values,
          valueMapper: prepareValue,
        })
        connection.describe({ type: 'P', name: '' })
        connection.execute({})
      }
    } catch (error) {
      // As pg does when a value cannot be sent: end the sequence, so the connection stays usable.
      connection.sync()
      ;(this as unknown as { handleError(e: Error, c: PreparedConnection): void }).handleError(
        error as Error,
        connection
      )
      return
    }
    // pg's own prepare: the query, then the Sync.
    ;(pg.Query.prototype as unknown as { prepare(c: PreparedConnection): void }).prepare.call(
      this,
      connection
    )
  }
}

const preparedNames = new Map<string, string>()

/**
 * The name a constant statement is prepared under: derived from its text, so
 * one text is one name on every connection and two texts never share one.
 */
export function preparedName(text: string) {
  let name = preparedNames.get(text)
  if (!name) {
    name = `atrium_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
    preparedNames.set(text, name)
  }
  return name
}
