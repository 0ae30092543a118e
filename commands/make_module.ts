import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { BaseCommand, args, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { moduleFiles, schemaClass, type ModuleNames } from '#commands/_module_templates'

const NAME = /^[a-z][a-z0-9_]{1,30}$/

/**
 * Generates a module in the one shape every module has (docs/modules.md):
 * its definition, public index, events, routes, a controller, validators, a
 * Bouncer policy, a service owning its units of work, a tenant-table
 * migration, OpenAPI from the validators, a functional test and its doc —
 * and adds it to start/module_names.ts, start/modules.ts, start/module_env.ts
 * and .env.example.
 */
export default class MakeModule extends BaseCommand {
  static commandName = 'make:module'
  static description =
    'Generate a module (definition, CRUD resource, policy, migration, test, docs)'
  static options: CommandOptions = { startApp: false }

  @args.string({ description: 'Module name: lower case, e.g. helpdesk' })
  declare name: string

  @flags.string({ description: 'Its first resource, singular (default: item)' })
  declare resource?: string

  @flags.string({ description: 'Plural of the resource (default: resource + s)' })
  declare plural?: string

  async run() {
    const resource = this.resource ?? 'item'
    const plural = this.plural ?? `${resource}s`
    for (const [label, value] of [
      ['module name', this.name],
      ['resource', resource],
      ['plural', plural],
    ]) {
      if (!NAME.test(value)) {
        this.logger.error(`The ${label} must be lower case letters, digits and _ (got "${value}")`)
        this.exitCode = 1
        return
      }
    }
    const root = this.app.appRoot
    const folder = new URL(`modules/${this.name}/`, root)
    if (existsSync(folder)) {
      this.logger.error(`modules/${this.name} already exists`)
      this.exitCode = 1
      return
    }
    const names = namesFor(this.name, resource, plural)
    for (const [path, content] of Object.entries(moduleFiles(names, Date.now()))) {
      const target = new URL(path, root)
      await mkdir(dirname(target.pathname), { recursive: true })
      await writeFile(target, await formatted(target.pathname, content))
      this.logger.action(`create ${path}`).succeeded()
    }
    const schemaFile = join(root.pathname, 'database/schema.ts')
    await writeFile(schemaFile, (await readFile(schemaFile, 'utf8')) + schemaClass(names))
    this.logger.action('update database/schema.ts').succeeded()
    await this.#register(root, names)
    for (const file of ['start/module_names.ts', 'start/modules.ts', 'start/module_env.ts']) {
      const path = join(root.pathname, file)
      await writeFile(path, await formatted(path, await readFile(path, 'utf8')))
    }
    this.logger.success(
      `Module ${this.name} is mounted. Next: node ace migration:run (or npm start), then npm test -- --files tests/functional/${this.name}`
    )
  }

  /** Adds the module to the composition root: its name, then its definition. */
  async #register(root: URL, names: ModuleNames) {
    const namesFile = join(root.pathname, 'start/module_names.ts')
    const list = await readFile(namesFile, 'utf8')
    await writeFile(namesFile, list.replace(/\n\] as const/, `\n  '${names.module}',\n] as const`))
    this.logger.action('update start/module_names.ts').succeeded()

    const modulesFile = join(root.pathname, 'start/modules.ts')
    let source = await readFile(modulesFile, 'utf8')
    const lastImport = [...source.matchAll(/^import \w+ from '#modules\/\w+\/module'\n/gm)].at(-1)
    if (!lastImport || !/\n\} satisfies/.test(source)) {
      throw new Error('start/modules.ts no longer has the shape make:module expects')
    }
    const at = lastImport.index! + lastImport[0].length
    source = `${source.slice(0, at)}import ${names.moduleCamel} from '#modules/${names.module}/module'\n${source.slice(at)}`
    source = source.replace(
      /\n\} satisfies/,
      `\n  ${names.module}: ${names.moduleCamel},\n} satisfies`
    )
    await writeFile(modulesFile, source)
    this.logger.action('update start/modules.ts').succeeded()

    const envFile = join(root.pathname, 'start/module_env.ts')
    let envSource = await readFile(envFile, 'utf8')
    const lastEnvImport = [
      ...envSource.matchAll(/^import \{ \w+ \} from '#modules\/\w+\/env'\n/gm),
    ].at(-1)
    if (!lastEnvImport || !/\n\}\n?$/.test(envSource)) {
      throw new Error('start/module_env.ts no longer has the shape make:module expects')
    }
    const envAt = lastEnvImport.index! + lastEnvImport[0].length
    envSource = `${envSource.slice(0, envAt)}import { ${names.moduleCamel}Env } from '#modules/${names.module}/env'\n${envSource.slice(envAt)}`
    envSource = envSource.replace(/\n\}\n?$/, `\n  ...${names.moduleCamel}Env,\n}\n`)
    await writeFile(envFile, envSource)
    this.logger.action('update start/module_env.ts').succeeded()

    const exampleFile = join(root.pathname, '.env.example')
    if (existsSync(exampleFile)) {
      const variable = `${names.module.toUpperCase()}_MAX_${names.plural.toUpperCase()}_PER_TENANT`
      const example = await readFile(exampleFile, 'utf8')
      await writeFile(
        exampleFile,
        `${example.trimEnd()}\n\n# --- ${names.modulePascal} ---\n# Most ${names.plural} one tenant may hold.\n# ${variable}=10000\n`
      )
      this.logger.action('update .env.example').succeeded()
    }
  }
}

/** Formatted with the project's Prettier settings, so the new module is lint-clean as generated. */
async function formatted(filepath: string, content: string) {
  if (!/\.(ts|md)$/.test(filepath)) return content
  try {
    const prettier = await import('prettier')
    const options = await prettier.resolveConfig(filepath)
    return await prettier.format(content, { ...options, filepath })
  } catch {
    // Prettier is a development dependency; without it the files are written as generated.
    return content
  }
}

function pascal(value: string) {
  return value
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')
}

function camel(value: string) {
  const name = pascal(value)
  return name.charAt(0).toLowerCase() + name.slice(1)
}

export function namesFor(module: string, resource: string, plural: string): ModuleNames {
  return {
    module,
    moduleCamel: camel(module),
    modulePascal: pascal(module),
    resource,
    resourcePascal: pascal(resource),
    resourceCamel: camel(resource),
    plural,
    pluralPascal: pascal(plural),
    pluralCamel: camel(plural),
    table: `${module}_${plural}`,
  }
}
