import { test } from '@japa/runner'
import { containsPattern } from '#app/platform/search_text'

test.group('containsPattern', () => {
  test('wraps the text and takes the caller’s wildcards literally', ({ assert }) => {
    assert.equal(containsPattern('rust'), '%rust%')
    assert.equal(containsPattern('50%'), '%50\\%%')
    assert.equal(containsPattern('a_b'), '%a\\_b%')
    assert.equal(containsPattern('c:\\dir'), '%c:\\\\dir%')
  })
})
