/*
| Entry point for "node ace" commands. ts-exec compiles TypeScript on the fly;
| the production build rewrites this file to import the compiled console.
|
| Started by an older system Node (20 on our machines), it runs itself again
| under the Node 24 the project brings (the `node` devDependency), so every
| document can simply say `node ace …`.
*/
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
const projectNode = fileURLToPath(new URL('./node_modules/node/bin/node', import.meta.url))

if (major < 24 && existsSync(projectNode)) {
  const result = spawnSync(
    projectNode,
    [fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    }
  )
  process.exit(result.status ?? 1)
} else {
  await import('@poppinss/ts-exec')
  await import('./bin/console.js')
}
