// Floor for an authenticated read: a bare node:http server (no framework, no token, no
// row-level security) answering GET /api/v1/auth/me's database read for one user with one
// pooled query — the least a server can do per request that needs PostgreSQL.
import { createServer } from 'node:http'
import pg from 'pg'

const port = Number(process.env.PORT ?? 3407)
const userId = process.env.BENCH_USER_ID
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 })
const statement = `SELECT u.id, u.email, u.name, u.created_at,
        (SELECT coalesce(json_agg(json_build_object(
                  'tenantId', m.tenant_id, 'tenantName', t.name,
                  'tenantSlug', t.slug, 'role', m.role) ORDER BY m.created_at), '[]')
           FROM identity_memberships m JOIN identity_tenants t ON t.id = m.tenant_id
          WHERE m.user_id = u.id) AS memberships
   FROM identity_users u WHERE u.id = $1`

createServer(async (_request, response) => {
  try {
    const { rows } = await pool.query(statement, [userId])
    const body = JSON.stringify({ user: rows[0], memberships: rows[0]?.memberships ?? [] })
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    response.end(body)
  } catch {
    response.writeHead(500).end()
  }
}).listen(port, '127.0.0.1')
