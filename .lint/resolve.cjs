/**
 * Resolve settings for dependency-cruiser: the package.json subpath imports
 * (#app/*, #modules/* …) as aliases, derived so the mapping lives in one place.
 */
const { resolve } = require('node:path')
const { imports } = require('../package.json')

const alias = {}
for (const [specifier, target] of Object.entries(imports)) {
  alias[specifier.replace(/\/\*$/, '')] = resolve(__dirname, '..', target.replace(/\/\*\.js$/, ''))
}

module.exports = { resolve: { alias, extensions: ['.ts', '.js', '.json'] } }
