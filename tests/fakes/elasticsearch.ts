import { startHttpFake } from '#tests/fakes/http_fake'

/** Speaks the parts of Elasticsearch's REST API we use; the official client checks the product header. */
export function startElasticsearchFake(version = '9.1.0') {
  return startHttpFake({
    'GET /': (_request, response) => {
      response
        .writeHead(200, {
          'content-type': 'application/json',
          'x-elastic-product': 'Elasticsearch',
        })
        .end(
          JSON.stringify({
            name: 'fake-node',
            cluster_name: 'atrium-test',
            cluster_uuid: 'fake-uuid',
            version: { number: version, build_flavor: 'default', lucene_version: '10.0.0' },
            tagline: 'You Know, for Search',
          })
        )
    },
  })
}
