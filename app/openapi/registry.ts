import type { OpenApiDocument } from '#app/openapi/document'

let document: OpenApiDocument | undefined

/** start/routes.ts builds the document once the mounted modules are known. */
export function publishDocument(built: OpenApiDocument) {
  document = built
}

export function currentDocument(): OpenApiDocument {
  if (!document) throw new Error('The OpenAPI document is built by start/routes.ts at boot')
  return document
}
