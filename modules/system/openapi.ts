import type { OpenApiFragment } from '#app/openapi/types'
import { json, ref } from '#app/openapi/components'

const fragment: OpenApiFragment = {
  tags: [{ name: 'system', description: 'What this Atrium process is' }],
  paths: {
    '/api/v1/system/ping': {
      get: {
        operationId: 'systemPing',
        summary: 'Round trip through the full middleware stack',
        tags: ['system'],
        responses: { 200: json(ref('Pong')) },
      },
    },
    '/api/v1/system/info': {
      get: {
        operationId: 'systemInfo',
        summary: 'Version, role and mounted modules of this process',
        tags: ['system'],
        responses: { 200: json(ref('SystemInfo')) },
      },
    },
  },
  schemas: {
    Pong: {
      type: 'object',
      required: ['pong', 'time'],
      properties: { pong: { const: true }, time: { type: 'string', format: 'date-time' } },
      additionalProperties: false,
    },
    SystemInfo: {
      type: 'object',
      required: ['name', 'version', 'node', 'role', 'modules'],
      properties: {
        name: { const: 'atrium' },
        version: { type: 'string' },
        node: { type: 'string' },
        role: { enum: ['web', 'worker', 'all'] },
        modules: { type: 'array', items: { type: 'string' } },
      },
      additionalProperties: false,
    },
  },
}

export default fragment
