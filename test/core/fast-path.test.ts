// stepUp.fetch sends a plain protected request as (url, init) instead of building a Request
// (bench/RESULTS.md: it saves an AbortSignal and a copy per request). These tests pin that both
// paths put the same thing on the wire, and where the fast path must not be taken.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, type StepUpOptions } from '../../src/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'

const fakes = useFakeServers()
let op: FakeOp
let api: FakeApi
beforeEach(() => ({ op, api } = fakes))
afterEach(() => {
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
})

function client(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, ...overrides })
}

/** What reached the network for `path`, as a Request would describe it (the global fetch is spied on). */
function recordWire(path: string) {
  const seen: unknown[] = []
  const real = globalThis.fetch
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const r = new Request(input, init)
    if (r.url === `${API}${path}`) {
      seen.push({
        url: r.url, method: r.method, headers: [...r.headers].filter(([k]) => k !== 'authorization'), auth: r.headers.get('authorization')?.split(' ')[0],
        credentials: r.credentials, mode: r.mode, redirect: r.redirect, cache: r.cache, referrerPolicy: r.referrerPolicy, keepalive: r.keepalive,
      })
    }
    return real(input, init)
  })
  return seen
}

const inits: Array<[string, RequestInit | undefined]> = [
  ['no init', undefined],
  ['record headers (an app Authorization is replaced)', { method: 'post', headers: { 'X-A': '1', Authorization: 'Bearer app' } }],
  ['array headers', { method: 'POST', headers: [['x-a', '1'], ['x-a', '2']] }],
  ['a Headers object', { method: 'POST', headers: new Headers({ 'x-a': '1' }) }],
  ['request options', { method: 'POST', credentials: 'omit', mode: 'cors', redirect: 'manual', cache: 'no-store', referrerPolicy: 'no-referrer', keepalive: true }],
]

describe('the fast path puts on the wire what the Request path does', () => {
  for (const [name, init] of inits) {
    it(`${name}: the first send and the retry after a step-up`, async () => {
      const path = init?.method ? '/transfer' : '/balance'
      const run = async (requestPath: boolean) => {
        const stepUp = client()
        await stepUp.authorize()
        const seen = recordWire(path)
        // An init with a prototype of its own is never "plain": it takes the Request path.
        const arg = requestPath && init ? Object.assign(Object.create({ marker: 1 }) as RequestInit, init) : init
        const res = await stepUp.fetch(`${API}${path}`, arg)
        vi.restoreAllMocks()
        return { status: res.status, seen }
      }
      const fast = await run(false)
      const viaRequest = await run(true)
      expect(fast.status).toBe(200)
      expect(fast.seen.length).toBe(path === '/transfer' ? 2 : 1)
      expect(fast).toEqual(viaRequest)
    })
  }
})

describe('where the fast path must not go', () => {
  it('a String object goes to its own URL, as fetch would send it', async () => {
    vi.stubGlobal('location', new URL(`${API}/app/`))
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch(new String(`${API}/balance`) as unknown as string)
    expect(res.status).toBe(200)
    expect(api.calls.map((c) => c.path)).toEqual(['/balance'])
  })

  it('an object with a stringifier goes to its own URL', async () => {
    vi.stubGlobal('location', new URL(`${API}/app/`))
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch({ toString: () => `${API}/balance` } as unknown as string)
    expect(res.status).toBe(200)
    expect(api.calls.map((c) => c.path)).toEqual(['/balance'])
  })

  it('headers given as a one-shot iterable reach the retry too', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const seen = recordWire('/transfer')
    const headers = (function* () {
      yield ['x-csrf', 'abc'] as [string, string]
    })()
    const res = await stepUp.fetch(`${API}/transfer`, { method: 'POST', headers: headers as unknown as HeadersInit })
    expect(res.status).toBe(200)
    expect(seen.map((s) => (s as { headers: string[][] }).headers)).toEqual([[['x-csrf', 'abc']], [['x-csrf', 'abc']]])
  })

  it('a custom fetch option receives a Request for protected URLs (wrappers that read input.headers)', async () => {
    const inputs: unknown[] = []
    const stepUp = client({ fetch: (input, init) => (inputs.push(input), fetch(input, init)) })
    await stepUp.authorize()
    await stepUp.fetch(`${API}/balance`)
    expect(inputs.at(-1)).toBeInstanceOf(Request)
    expect((inputs.at(-1) as Request).headers.get('authorization')).toMatch(/^Bearer /)
  })

  it('a method that is an object with a stringifier works as in fetch', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/balance`, { method: { toString: () => 'get' } as unknown as string })
    expect(res.status).toBe(200)
  })
})

describe('the parsed-URL cache of protected requests', () => {
  it('a protect function sees every request, with a URL of its own each time', async () => {
    const seen: URL[] = []
    const stepUp = client({
      protect: (url) => {
        seen.push(url)
        const ok = url.origin === API
        url.pathname = '/elsewhere' // an impure function must not change what the next call sees
        return ok
      },
    })
    await stepUp.authorize()
    for (let i = 0; i < 3; i++) expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(seen).toHaveLength(3)
    expect(new Set(seen).size).toBe(3)
  })

  it('keeps giving the right verdict after many other URLs (past its bound)', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const seen = recordWire('/balance')
    for (let i = 0; i < 70; i++) await stepUp.fetch(`https://other.test/${i}`).catch(() => {})
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect((seen[0] as { auth?: string }).auth).toBe('Bearer')
  })
})
