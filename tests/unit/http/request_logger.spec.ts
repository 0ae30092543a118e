import { test } from '@japa/runner'
import { Logger } from '@adonisjs/core/logger'
import type { LoggerConfig } from '@adonisjs/core/types/logger'
import type { HttpRequest } from '@adonisjs/core/http'
import { RequestLogger } from '#app/http/request_logger'

/** An application logger writing JSON lines to memory, counting the children it makes. */
function appLogger(level: string, enabled = true) {
  const lines: Array<Record<string, unknown>> = []
  const app: Logger = new Logger({
    enabled,
    level,
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  })
  let children = 0
  const child = app.child.bind(app)
  app.child = ((...args: Parameters<Logger['child']>) => {
    children++
    return child(...args)
  }) as Logger['child']
  const shared: LoggerConfig = { enabled: app.isEnabled, level: app.level }
  return { app, lines, shared, children: () => children }
}

/** The part of a request the logger reads: its id, which request_id_middleware may replace. */
function requestWithId(id: string) {
  const request = { id: () => id }
  return {
    request: request as unknown as HttpRequest,
    replaceId: (next: string) => (request.id = () => next),
  }
}

test.group('RequestLogger: the request logger made on its first line', () => {
  test('a request that logs nothing at an enabled level makes no child logger', ({ assert }) => {
    const { app, lines, shared, children } = appLogger('warn')
    const logger = new RequestLogger(app, shared, requestWithId('req-quiet-0001').request)
    logger.info('below the level')
    logger.debug({ detail: 1 }, 'below the level')
    assert.isFalse(logger.isLevelEnabled('info'))
    assert.isTrue(logger.isLevelEnabled('warn'))
    assert.equal(logger.level, 'warn')
    assert.equal(children(), 0)
    assert.lengthOf(lines, 0)
  })

  test('its lines carry the request id, through one child however many lines', ({ assert }) => {
    const { app, lines, shared, children } = appLogger('info')
    const logger = new RequestLogger(app, shared, requestWithId('req-lines-0001').request)
    logger.info({ step: 1 }, 'first')
    logger.warn('second %s', 'line')
    logger.error({ err: new Error('boom') }, 'third')
    assert.equal(children(), 1)
    assert.deepEqual(
      lines.map((line) => [line.request_id, line.msg]),
      [
        ['req-lines-0001', 'first'],
        ['req-lines-0001', 'second line'],
        ['req-lines-0001', 'third'],
      ]
    )
    assert.equal(lines[0].step, 1)
  })

  test('the id is read at the first line: a replaced unsafe id is the one logged', ({ assert }) => {
    const { app, lines, shared } = appLogger('info')
    const { request, replaceId } = requestWithId('<script>')
    const logger = new RequestLogger(app, shared, request)
    replaceId('0b6c1f5e-8f0e-4c53-9a55-5f4d1c2b7a10')
    logger.warn('after the replacement')
    assert.equal(lines[0].request_id, '0b6c1f5e-8f0e-4c53-9a55-5f4d1c2b7a10')
  })

  test('a child of it keeps the request id beside its own bindings', ({ assert }) => {
    const { app, lines, shared } = appLogger('info')
    const logger = new RequestLogger(app, shared, requestWithId('req-child-0001').request)
    logger.child({ component: 'relay' }).info('from the child')
    assert.equal(lines[0].request_id, 'req-child-0001')
    assert.equal(lines[0].component, 'relay')
    assert.deepEqual(logger.bindings(), { request_id: 'req-child-0001' })
  })

  test("a level set on it is the request's own; the application's stays", ({ assert }) => {
    const { app, lines, shared } = appLogger('warn')
    const logger = new RequestLogger(app, shared, requestWithId('req-level-0001').request)
    logger.level = 'debug'
    logger.debug('now shown')
    app.debug('still hidden')
    assert.equal(app.level, 'warn')
    assert.equal(logger.level, 'debug')
    assert.deepEqual(
      lines.map((line) => line.msg),
      ['now shown']
    )
  })

  test('with logging turned off nothing is written and no child is made', ({ assert }) => {
    const { app, lines, shared, children } = appLogger('info', false)
    const logger = new RequestLogger(app, shared, requestWithId('req-off-0001').request)
    logger.error('nobody hears this')
    assert.isFalse(logger.isLevelEnabled('error'))
    assert.equal(children(), 0)
    assert.lengthOf(lines, 0)
  })
})
