// `npm run demo` (demo/start.js) as a visitor runs it: it starts, prints where to go, serves the
// app, the OP and the API, and Ctrl-C stops all three with nothing left listening.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const START = fileURLToPath(new URL('../../demo/start.js', import.meta.url))

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [START], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

async function reachable(url: string): Promise<boolean> {
  return fetch(url).then(
    () => true,
    () => false,
  )
}

describe('npm run demo', () => {
  it('prints the URLs, serves the SPA, the OP and the API, and Ctrl-C (SIGINT) stops all of them', async () => {
    // As a visitor runs it: dev mode, with Vite's file watcher and hot-reload socket.
    const demo = start({ DEMO_PORT: '0', DEMO_OP_PORT: '0', DEMO_API_PORT: '0' })
    await expect.poll(demo.output, { timeout: 20_000 }).toContain('Ctrl-C stops everything')
    const url = (label: string): string => demo.output().match(new RegExp(`${label}\\s+(http://127\\.0\\.0\\.1:\\d+)`))![1]!
    const [app, op, api] = [url('Open'), url('OP'), url('API')]

    const page = await fetch(`${app}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('Northwind Bank')
    const main = await fetch(`${app}/main.ts`)
    expect(main.status).toBe(200)
    expect(await main.text()).toContain('stepUp.fetch')
    const config = await (await fetch(`${app}/@id/__x00__virtual:demo-config`)).text()
    expect(config).toContain(op)
    expect(config).toContain(api)
    expect(((await (await fetch(`${op}/.well-known/openid-configuration`)).json()) as { acr_values_supported: string[] }).acr_values_supported).toEqual(['urn:demo:loa:1fa', 'urn:demo:loa:2fa'])
    expect((await fetch(`${api}/api/transfer`, { method: 'POST' })).status).toBe(401)

    demo.child.kill('SIGINT')
    expect(await demo.exited).toBe(0)
    expect(demo.output()).toContain('SIGINT: stopping the demo')
    for (const url of [app, op, api]) expect(await reachable(url)).toBe(false)
  })

  it('a port in use: exits 1 and says how to choose other ports', async () => {
    const blocker = http.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as AddressInfo
    try {
      const demo = start({ DEMO_PORT: String(port), DEMO_OP_PORT: '0', DEMO_API_PORT: '0', DEMO_QUIET: '1' })
      expect(await demo.exited).toBe(1)
      expect(demo.output()).toContain('DEMO_PORT=5180 DEMO_OP_PORT=4010 DEMO_API_PORT=4011 npm run demo')
    } finally {
      blocker.close()
    }
  })
})
