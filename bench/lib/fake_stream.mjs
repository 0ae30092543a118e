// Bench upstream: streams TOKENS chunks per reply at RATE tokens a second (plain JS, own process).
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 3421)
const tokens = Number(process.env.TOKENS ?? 200)
const interval = 1000 / Number(process.env.RATE ?? 100)
const chunk = (delta, finish = null, usage = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench-model', choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`

createServer((request, response) => {
  let body = ''
  request.on('data', (part) => (body += part))
  request.on('end', () => {
    if (!body.includes('"stream":true')) {
      // Titles: a short JSON answer.
      const completion = JSON.stringify({
        id: 'chatcmpl-bench',
        object: 'chat.completion',
        created: 1700000000,
        model: 'bench-model',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Bench title' },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 },
      })
      response.writeHead(200, { 'content-type': 'application/json' }).end(completion)
      return
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    let sent = 0
    const started = performance.now()
    const next = () => {
      if (response.destroyed) return
      if (sent === tokens) {
        response.write(chunk({}, 'stop'))
        response.end(
          chunk(null, null, {
            prompt_tokens: 20,
            completion_tokens: tokens,
            total_tokens: tokens + 20,
          }) + 'data: [DONE]\n\n'
        )
        return
      }
      response.write(chunk(sent === 0 ? { role: 'assistant', content: 'w ' } : { content: 'w ' }))
      sent++
      // Paced against the start, so timer drift does not add up over a reply.
      setTimeout(next, Math.max(0, started + sent * interval - performance.now()))
    }
    next()
  })
}).listen(port, '127.0.0.1')
