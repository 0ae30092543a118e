import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { resetIdentity } from '#tests/helpers/identity'
import { passwordWeakness } from '#modules/identity/services/password_policy'

test.group('new passwords', (group) => {
  group.each.setup(() => resetIdentity())

  for (const [label, email, password] of [
    ['a common password', 'common@example.com', 'qwerty123456'],
    ['a common password in other case', 'common@example.com', 'QWERTY123456'],
    ['the email itself', 'alexandra.long@example.com', 'alexandra.long@example.com'],
    ['the email before the @', 'alexandra.long@example.com', 'Alexandra.Long'],
  ] as const) {
    test(`registration refuses ${label}, naming the field`, async ({ client, assert }) => {
      const response = await client
        .post('/api/v1/auth/register')
        .json({ email, password, name: 'Weak' })
      assertProblem(response, 422, 'validation_failed')
      assert.deepInclude(response.body().errors, {
        field: 'password',
        rule: 'weakPassword',
        message: response.body().errors[0].message,
      })
      const users = await db.from('identity_users').count('* as n').first()
      assert.equal(Number(users.n), 0)
    })
  }

  test('a long uncommon passphrase is accepted', async ({ client }) => {
    const response = await client
      .post('/api/v1/auth/register')
      .json({ email: 'fine@example.com', password: 'violet kettle harbour 42', name: 'Fine' })
    response.assertStatus(201)
  })

  test('the rule sees the list and the address', ({ assert }) => {
    assert.isNotNull(passwordWeakness('1qaz2wsx3edc'))
    assert.isNotNull(passwordWeakness('someone.long@example.com', 'Someone.Long@example.com'))
    assert.isNotNull(passwordWeakness('someone.long', 'someone.long@example.com'))
    assert.isNull(passwordWeakness('violet kettle harbour 42', 'someone.long@example.com'))
  })
})
