// The framework's own floor: @adonisjs/http-server with one route and no middleware (plain JS, no
// loader), answering the same JSON as GET /api/v1/system/ping. What Atrium adds is the difference
// between this row and Atrium's; what AdonisJS costs is the difference between it and bare node:http.
import { createServer } from 'node:http'
import { AppFactory } from '@adonisjs/application/factories'
import { ServerFactory } from '@adonisjs/http-server/factories'

const port = Number(process.env.PORT ?? 3403)
const app = new AppFactory().create(new URL('./', import.meta.url))
await app.init()
const server = new ServerFactory().merge({ app }).create()
server.getRouter().get('/', ({ response }) => {
  response.json({ pong: true, time: new Date().toISOString() })
})
await server.boot()
createServer(server.handle.bind(server)).listen(port, '127.0.0.1')
