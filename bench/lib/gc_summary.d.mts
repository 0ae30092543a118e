export interface GcSummary {
  seconds: number
  scavengesPerSecond: number
  msPerScavenge: number
  promotedKiBPerScavenge: number
  survivedKiBPerScavenge: number
  fullCollectionsPerSecond: number
  gcPauseMsPerSecond: number
}
export function summariseGc(data: {
  startTime: number
  endTime: number
  statistics: Array<{ gcType: string; cost: number; beforeGC: unknown; afterGC: unknown }>
}): GcSummary
