import { defineApi, ref, schema as s } from '#app/openapi/define'

export default defineApi(
  { name: 'system', description: 'What this Atrium process is' },
  {
    'GET /api/v1/system/ping': {
      id: 'systemPing',
      summary: 'Round trip through the full middleware stack',
      auth: 'none',
      ok: { 200: ref('Pong') },
    },
    'GET /api/v1/system/info': {
      id: 'systemInfo',
      summary: 'Version, role and mounted modules of this process (operators only)',
      description:
        'Send METRICS_TOKEN as a bearer token, or call from an address in METRICS_ALLOW (default: this machine).',
      auth: 'none',
      ok: { 200: ref('SystemInfo') },
      errors: { 403: 'operator_only' },
    },
  },
  {
    Pong: s.object({ pong: { const: true }, time: s.dateTime }),
    SystemInfo: s.object({
      name: { const: 'atrium' },
      version: s.string,
      node: s.string,
      role: s.enum(['web', 'worker', 'all']),
      modules: s.array(s.string),
    }),
  }
)
