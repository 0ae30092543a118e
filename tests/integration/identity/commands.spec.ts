import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { childEnv, runNode } from '#tests/helpers/processes'
import { resetIdentity } from '#tests/helpers/identity'

const ace = (args: string[], env: Record<string, string | undefined> = {}) =>
  runNode(['ace.js', ...args], childEnv(env))

test.group('identity ace commands', (group) => {
  group.each.setup(() => resetIdentity())

  test('identity:create-admin creates a superadmin who can log in', async ({ client, assert }) => {
    const result = await ace(
      ['identity:create-admin', '--email=Root@Example.com', '--name=Root', '--password-from-env'],
      { ATRIUM_ADMIN_PASSWORD: 'a long admin password' }
    )
    assert.equal(result.code, 0, result.stdout + result.stderr)
    const user = await db.from('identity_users').where('email', 'root@example.com').firstOrFail()
    assert.isTrue(user.is_superadmin)
    const login = await client
      .post('/api/v1/auth/login')
      .json({ email: 'root@example.com', password: 'a long admin password' })
    login.assertStatus(200)
    assert.include(login.body().roles, 'superadmin')
  })

  test('create-admin refuses a taken email and a short password, changing nothing', async ({
    assert,
  }) => {
    const env = { ATRIUM_ADMIN_PASSWORD: 'a long admin password' }
    await ace(
      ['identity:create-admin', '--email=dup@example.com', '--name=A', '--password-from-env'],
      env
    )
    const duplicate = await ace(
      ['identity:create-admin', '--email=dup@example.com', '--name=B', '--password-from-env'],
      env
    )
    assert.equal(duplicate.code, 1)
    assert.include(duplicate.stdout + duplicate.stderr, 'already exists')

    const short = await ace(
      ['identity:create-admin', '--email=short@example.com', '--name=S', '--password-from-env'],
      {
        ATRIUM_ADMIN_PASSWORD: 'short',
      }
    )
    assert.equal(short.code, 1)
    assert.include(short.stdout + short.stderr, '12 characters')
    const [{ count }] = await db.from('identity_users').count('* as count')
    assert.equal(Number(count), 1)
  })

  test('--promote makes an existing account a superadmin', async ({ client, assert }) => {
    await client
      .post('/api/v1/auth/register')
      .json({ email: 'later@example.com', password: 'correct horse battery staple', name: 'Later' })
    const result = await ace(['identity:create-admin', '--email=later@example.com', '--promote'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    const user = await db.from('identity_users').where('email', 'later@example.com').firstOrFail()
    assert.isTrue(user.is_superadmin)
  })

  test('tenants:create makes a tenant owned by an existing account; an unknown owner fails', async ({
    assert,
  }) => {
    await ace(
      ['identity:create-admin', '--email=boss@example.com', '--name=Boss', '--password-from-env'],
      {
        ATRIUM_ADMIN_PASSWORD: 'a long admin password',
      }
    )
    const created = await ace(['tenants:create', '--name=Globex', '--owner=boss@example.com'])
    assert.equal(created.code, 0, created.stdout + created.stderr)
    const tenant = await db.from('identity_tenants').where('name', 'Globex').firstOrFail()
    const membership = await db
      .from('identity_memberships')
      .where('tenant_id', tenant.id)
      .firstOrFail()
    assert.equal(membership.role, 'owner')

    const unknown = await ace(['tenants:create', '--name=Nope', '--owner=ghost@example.com'])
    assert.equal(unknown.code, 1)
    assert.include(unknown.stdout + unknown.stderr, 'No account')
  })
})
