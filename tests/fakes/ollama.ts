import { startHttpFake } from '#tests/fakes/http_fake'

/** Speaks Ollama's HTTP API (GET /api/version so far). */
export function startOllamaFake(version = '0.12.0') {
  return startHttpFake({
    'GET /api/version': (_request, response) => {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ version }))
    },
  })
}
