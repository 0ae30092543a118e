import { destination } from '@adonisjs/core/logger'

/** What may wait in memory for the log's reader by default. */
export const LOG_BUFFER_BYTES = 8 * 1024 * 1024

/**
 * How long the synchronous flush at exit waits on a reader that takes
 * nothing before it gives up on what is left.
 */
export const EXIT_FLUSH_STALL_MS = 1000

/**
 * An asynchronous stream for JSON log lines on a file descriptor (stdout in
 * production, config/logger.ts). Whatever reads it — a container's log
 * driver, a pipe — can stall; past `maxBytes` waiting in memory the stream
 * drops new lines rather than grow without bound or block the event loop (a
 * pino transport's full buffer blocks it), and says so once on stderr.
 *
 * At exit pino writes what is left synchronously (`flushSync`), and sonic-boom
 * retries a full pipe there for as long as it stays full: a process whose
 * reader had stalled never finished exiting — not even from shutdown's forced
 * exit — until something killed it. There the flush now goes on while the
 * reader takes something, and gives up after `exitStallMs` without progress:
 * those lines are lost (their reader was gone), and the process exits with
 * the code it chose.
 */
export function boundedLogStream(options: { fd: number; maxBytes?: number; exitStallMs?: number }) {
  const exitStallMs = options.exitStallMs ?? EXIT_FLUSH_STALL_MS
  let flushingSync = false
  let pendingAtLastTry = -1
  let stalledSince = 0
  const stream = destination({
    dest: options.fd,
    sync: false,
    // Every line still goes out at once (any line is ≥ 1 byte); with the default 0,
    // sonic-boom's flush(cb) calls back at once instead of after the pending writes.
    minLength: 1,
    maxLength: options.maxBytes ?? LOG_BUFFER_BYTES,
    // Asynchronous writes retry a full pipe on a timer without blocking anything: always.
    retryEAGAIN(_error: Error, writing: number, remaining: number) {
      if (!flushingSync) return true
      const pending = writing + remaining
      const now = Date.now()
      if (pending !== pendingAtLastTry) {
        pendingAtLastTry = pending
        stalledSince = now
      }
      return now - stalledSince < exitStallMs
    },
  })
  const flushSync = stream.flushSync.bind(stream)
  const flushSyncGivingUpOnStalls = () => {
    flushingSync = true
    pendingAtLastTry = -1
    try {
      flushSync()
    } catch (error) {
      // Given up on a stalled reader (above); anything else is not ours to hide.
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EAGAIN' && code !== 'EBUSY') throw error
    } finally {
      flushingSync = false
    }
  }
  stream.flushSync = flushSyncGivingUpOnStalls
  stream.once('drop', () => {
    process.stderr.write('atrium: the log output is not keeping up; log lines are being dropped\n')
  })
  return stream
}

/** What no log line may show (config/logger.ts); bench:request-logger makes its logger with it too. */
export const LOG_REDACTION = {
  paths: [
    'password',
    '*.password',
    'headers.authorization',
    'headers.cookie',
    '*.apiKey',
    '*.secret',
  ],
  censor: '[redacted]',
}
