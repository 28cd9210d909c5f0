import fc from 'fast-check'
import { beforeEach, describe, expect, it } from 'vitest'
import { createStepUp } from '../../src/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'

const fakes = useFakeServers()
let op: FakeOp
let api: FakeApi
beforeEach(() => ({ op, api } = fakes))

const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13])

describe('body replay', () => {
  const bodies: Array<{ kind: string; make: () => { body: BodyInit; init?: RequestInit }; expected: Buffer; contentType: RegExp | null }> = [
    { kind: 'string', make: () => ({ body: 'héllo wörld' }), expected: Buffer.from('héllo wörld'), contentType: /^text\/plain/ },
    { kind: 'URLSearchParams', make: () => ({ body: new URLSearchParams({ a: '1', b: 'x y' }) }), expected: Buffer.from('a=1&b=x+y'), contentType: /^application\/x-www-form-urlencoded/ },
    { kind: 'Blob', make: () => ({ body: new Blob([bytes], { type: 'application/octet-stream' }) }), expected: Buffer.from(bytes), contentType: /^application\/octet-stream$/ },
    { kind: 'ArrayBuffer', make: () => ({ body: bytes.slice().buffer }), expected: Buffer.from(bytes), contentType: null },
    { kind: 'Uint8Array', make: () => ({ body: bytes.slice() }), expected: Buffer.from(bytes), contentType: null },
    {
      kind: 'ReadableStream',
      make: () => ({
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(bytes.slice(0, 3))
            controller.enqueue(bytes.slice(3))
            controller.close()
          },
        }),
        init: { duplex: 'half' } as RequestInit,
      }),
      expected: Buffer.from(bytes),
      contentType: null,
    },
  ]

  for (const { kind, make, expected, contentType } of bodies) {
    it(`retries a ${kind} body with the same bytes and headers`, async () => {
      const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
      await stepUp.authorize()
      const { body, init } = make()
      const res = await stepUp.fetch(`${API}/echo`, { method: 'POST', body, headers: { 'x-app': 'kept' }, ...init })
      expect(res.status).toBe(200)
      const [first, retry] = api.calls
      expect(api.calls).toHaveLength(2)
      expect(Buffer.from(first!.body, 'base64')).toEqual(expected)
      expect(retry!.body).toBe(first!.body)
      expect(retry!.contentType).toBe(first!.contentType)
      if (contentType) expect(retry!.contentType).toMatch(contentType)
    })
  }

  it('retries FormData with the same fields and files', async () => {
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    const form = new FormData()
    form.set('name', 'alice')
    form.set('file', new Blob([bytes]), 'a.bin')
    expect((await stepUp.fetch(`${API}/echo`, { method: 'POST', body: form })).status).toBe(200)
    const [first, retry] = api.calls
    // The boundary is chosen once, by the Request both are copied from: same bytes, same header.
    expect(retry!.body).toBe(first!.body)
    expect(retry!.contentType).toBe(first!.contentType)
    expect(Buffer.from(retry!.body, 'base64').toString('latin1')).toContain('alice')
  })

  it('replays a Request object input with its body', async () => {
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    const res = await stepUp.fetch(new Request(`${API}/echo`, { method: 'POST', body: 'from a Request' }))
    expect(res.status).toBe(200)
    expect(api.calls.map((c) => Buffer.from(c.body, 'base64').toString())).toEqual(['from a Request', 'from a Request'])
  })
})

describe('protect: no token ever leaves the allowlist', () => {
  // An independent oracle for string entries: same origin, path prefix on a segment boundary.
  const entries = ['https://api.test/v1', 'https://api.test:8443', 'http://127.0.0.1:4000/api/']
  const oracle = (url: URL) =>
    entries.some((entry) => {
      const base = new URL(entry)
      const path = base.pathname.replace(/\/$/, '')
      return url.protocol === base.protocol && url.host === base.host && (url.pathname === path || url.pathname.startsWith(path + '/'))
    })

  it('attaches the token exactly when the URL is covered (random URLs)', async () => {
    const seen: Array<{ url: string; token: boolean }> = []
    const stepUp = createStepUp({
      issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: entries, interaction: op.interaction,
      fetch: async (input, init) => {
        const url = input instanceof Request ? input.url : String(input)
        if (url.startsWith(ISSUER)) return globalThis.fetch(input, init)
        seen.push({ url, token: (input instanceof Request ? input.headers : new Headers(init?.headers)).has('authorization') })
        return new Response('ok')
      },
    })
    await stepUp.authorize()
    const host = fc.constantFrom('api.test', 'api.test.evil.com', 'evil.com', '127.0.0.1', 'API.TEST', 'api.tes', 'xapi.test')
    const port = fc.constantFrom('', ':8443', ':84431', ':4000', ':443', ':80')
    const scheme = fc.constantFrom('https://', 'http://')
    const segment = fc.constantFrom('v1', 'v10', 'api', 'api2', '..', '.', '%2e%2e', 'v1%2f', 'x', '')
    const path = fc.array(segment, { maxLength: 4 }).map((parts) => '/' + parts.join('/'))
    const userinfo = fc.constantFrom('', 'api.test@', 'user:pw@')
    await fc.assert(
      fc.asyncProperty(scheme, userinfo, host, port, path, async (s, u, h, p, pa) => {
        const raw = `${s}${u}${h}${p}${pa}`
        let url: URL
        try {
          url = new URL(raw)
        } catch {
          return
        }
        seen.length = 0
        await stepUp.fetch(u ? url.href : raw).catch(() => {})
        const expected = !u && oracle(url)
        expect(seen.at(-1)?.token ?? false).toBe(expected)
      }),
      { numRuns: 500 },
    )
  })
})
