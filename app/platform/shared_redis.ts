import redis from '@adonisjs/redis/services/main'
import { outsideRequests } from '#app/platform/outside_requests'

/**
 * Opens the process's Redis connection at boot. @adonisjs/redis opens it on
 * first use, and in a server that is a request (a /v1 call's quota, a login's
 * rate limit, a readiness probe): opened there, its socket would keep that
 * request's whole context for the life of the process, and run every reply
 * in it (app/platform/outside_requests.ts). Commands (`node ace`) open it when
 * they need it, as before.
 */
export function openSharedRedis() {
  outsideRequests(() => redis.connection())
}

/** A connection of its own (a subscriber), opened outside any request for the same reason. */
export function dedicatedRedis() {
  return outsideRequests(() => redis.connection().ioConnection.duplicate())
}
