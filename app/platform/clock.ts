/**
 * The wall clock that rules living in time windows read (quota minutes,
 * days, months). Tests shift it rather than wait for a window to turn; in a
 * test run, ATRIUM_TEST_CLOCK_OFFSET_MS shifts the clock of the processes a
 * test starts. Outside tests the offset is always zero.
 */
const inTests = process.env.NODE_ENV === 'test'
let offsetMs = inTests ? Number(process.env.ATRIUM_TEST_CLOCK_OFFSET_MS ?? 0) || 0 : 0

export const clock = {
  now(): number {
    return Date.now() + offsetMs
  },

  /** Tests only: from now on, `now()` reads `at` (and moves on from there in real time). */
  travelTo(at: number) {
    if (!inTests) throw new Error('clock.travelTo is for tests')
    offsetMs = at - Date.now()
  },

  /** Tests only: the real time again. */
  reset() {
    offsetMs = 0
  },

  /** The offset a test hands to the processes it starts (ATRIUM_TEST_CLOCK_OFFSET_MS). */
  get offsetMs() {
    return offsetMs
  },
}
