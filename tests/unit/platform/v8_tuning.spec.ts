import { test } from '@japa/runner'
import { childEnv, runNode } from '#tests/helpers/processes'

/**
 * Where V8 puts the objects of a literal whose earlier objects all outlived
 * scavenges (tests/fixtures/pretenuring_probe.ts), in a fresh process: with
 * V8's defaults it decides to pretenure them (old generation), with the
 * server's settings they stay young. Each case is its own process because a
 * pretenuring decision, once made, sticks.
 */
async function oldSpaceGrowth(nodeFlags: string[], probeArgs: string[]) {
  const run = await runNode(
    [
      '--expose-gc',
      '--min-semi-space-size=16',
      '--max-semi-space-size=16',
      ...nodeFlags,
      'tests/fixtures/pretenuring_probe.ts',
      ...probeArgs,
    ],
    childEnv({ NODE_OPTIONS: undefined })
  )
  if (run.code !== 0) throw new Error(`probe exited ${run.code}: ${run.stderr}`)
  const answer = JSON.parse(run.stdout) as { oldSpaceGrowth: number; kept: number }
  if (answer.kept !== 40_000) throw new Error(`probe kept ${answer.kept} objects`)
  return answer.oldSpaceGrowth
}

/**
 * 20,000 of the probe's objects take ~2.8 MB, young ones leave ~1 KB. V8
 * decides per allocation site, and the literal has three (the object, its
 * inner object, its array): with 6 rounds of survivors a CI run once saw
 * only one site pretenured (~0.5 MB). With 10 rounds 40 runs of 40 were
 * whole; the bound still counts any one site as pretenured.
 */
const PRETENURED = 256 * 1024
const YOUNG = 64 * 1024

test.group('V8 settings for serving', () => {
  test("V8's defaults pretenure a literal whose objects outlive scavenges", async ({ assert }) => {
    // The control: proves the probe sees pretenuring, so the next test can fail.
    assert.isAbove(await oldSpaceGrowth([], []), PRETENURED)
  }).timeout(30_000)

  test("the server's settings keep that literal's new objects young", async ({ assert }) => {
    assert.isBelow(await oldSpaceGrowth([], ['tuned']), YOUNG)
  }).timeout(30_000)

  test("an operator's own pretenuring flag wins", async ({ assert }) => {
    assert.isAbove(await oldSpaceGrowth(['--allocation-site-pretenuring'], ['tuned']), PRETENURED)
  }).timeout(30_000)
})
