/*
| First start: when the database has no accounts yet, a demo tenant and its
| owner are created and the credentials printed once. Never in production,
| where credentials must not land in logs: use `node ace identity:create-admin`.
*/
import env from '#start/env'
import { provisioning } from '#modules/identity/index'

export async function seedOnFirstStart(): Promise<string[]> {
  if (env.get('NODE_ENV') === 'production') return []
  const demo = await provisioning.seedDemoIfEmpty()
  if (!demo) return []
  return [
    `First start: created the "Demo" tenant. Log in as ${demo.email} with password ${demo.password}`,
    `(shown once; this account is also a platform administrator). Example:`,
    `  curl -s -X POST localhost:${env.get('PORT')}/api/v1/auth/login -H 'content-type: application/json' \\`,
    `       -d '{"email":"${demo.email}","password":"${demo.password}"}'`,
  ]
}
