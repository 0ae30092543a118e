import { destination } from '@adonisjs/core/logger'

/** What may wait in memory for the log's reader by default. */
export const LOG_BUFFER_BYTES = 8 * 1024 * 1024

/**
 * An asynchronous stream for JSON log lines on a file descriptor (stdout in
 * production, config/logger.ts). Whatever reads it — a container's log
 * driver, a pipe — can stall; past `maxBytes` waiting in memory the stream
 * drops new lines rather than grow without bound or block the event loop (a
 * pino transport's full buffer blocks it), and says so once on stderr.
 */
export function boundedLogStream(options: { fd: number; maxBytes?: number }) {
  const stream = destination({
    dest: options.fd,
    sync: false,
    // Every line still goes out at once (any line is ≥ 1 byte); with the default 0,
    // sonic-boom's flush(cb) calls back at once instead of after the pending writes.
    minLength: 1,
    maxLength: options.maxBytes ?? LOG_BUFFER_BYTES,
  })
  stream.once('drop', () => {
    process.stderr.write('atrium: the log output is not keeping up; log lines are being dropped\n')
  })
  return stream
}
