/*
| HTTP server entrypoint (`npm start`, `node ace serve`, `node bin/server.js`
| in a build). Prepares .env and the database, migrates, then serves.
*/
import { startHttpServer } from '#app/platform/http_entry'

await startHttpServer({
  appRoot: new URL('../', import.meta.url),
  afterMigrations: async () => {
    const { seedOnFirstStart } = await import('#start/seed')
    return seedOnFirstStart()
  },
})
