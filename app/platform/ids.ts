import { v7 as uuidv7, validate, version } from 'uuid'

/** Time-ordered ids (UUIDv7): index-friendly and sortable by creation. */
export function newId(): string {
  return uuidv7()
}

export function isUuid(value: string): boolean {
  return validate(value) && [4, 7].includes(version(value))
}
