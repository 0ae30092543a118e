import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { childEnv, runNode } from '#tests/helpers/processes'
import { resetIdentity } from '#tests/helpers/identity'

/** The operator's commands: accounts and tenants without the HTTP API. */
test.group('node ace identity:create-admin and tenants:create', (group) => {
  group.each.setup(() => resetIdentity())

  test('create an administrator, promote another, give one a tenant', async ({
    assert,
    client,
  }) => {
    const env = childEnv({ ATRIUM_ADMIN_PASSWORD: 'a-long-operator-passphrase-42' })
    const created = await runNode(
      [
        'ace.js',
        'identity:create-admin',
        '--email=Ops@Example.com',
        '--name=Ops',
        '--password-from-env',
      ],
      env
    )
    assert.equal(created.code, 0, created.stderr)
    const admin = await db.from('identity_users').where('email', 'ops@example.com').firstOrFail()
    assert.isTrue(admin.is_superadmin)
    assert.isNotNull(admin.email_verified_at, 'an operator-typed address needs no mailed proof')

    const login = await client
      .post('/api/v1/auth/login')
      .json({ email: 'ops@example.com', password: 'a-long-operator-passphrase-42' })
    login.assertStatus(200)
    assert.include(login.body().roles, 'superadmin')

    const again = await runNode(
      [
        'ace.js',
        'identity:create-admin',
        '--email=ops@example.com',
        '--name=Ops',
        '--password-from-env',
      ],
      env
    )
    assert.notEqual(again.code, 0, 'the same email twice')
    assert.include(again.stderr + again.stdout, 'already exists')

    const registered = await client
      .post('/api/v1/auth/register')
      .json({ email: 'dev@example.com', password: 'another-long-passphrase-7', name: 'Dev' })
    registered.assertStatus(201)
    const promoted = await runNode(
      ['ace.js', 'identity:create-admin', '--email=dev@example.com', '--promote'],
      env
    )
    assert.equal(promoted.code, 0, promoted.stderr)
    const dev = await db.from('identity_users').where('email', 'dev@example.com').firstOrFail()
    assert.isTrue(dev.is_superadmin)

    const tenant = await runNode(
      ['ace.js', 'tenants:create', '--name=Acme Support', '--owner=dev@example.com'],
      env
    )
    assert.equal(tenant.code, 0, tenant.stderr)
    const row = await db.from('identity_tenants').where('name', 'Acme Support').firstOrFail()
    const membership = await db
      .from('identity_memberships')
      .where({ tenant_id: row.id, user_id: dev.id })
      .firstOrFail()
    assert.equal(membership.role, 'owner')

    const orphan = await runNode(
      ['ace.js', 'tenants:create', '--name=Nobody', '--owner=missing@example.com'],
      env
    )
    assert.notEqual(orphan.code, 0)
    assert.isNull(await db.from('identity_tenants').where('name', 'Nobody').first())
  }).timeout(120_000)
})
