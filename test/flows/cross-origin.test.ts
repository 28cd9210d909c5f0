// @vitest-environment happy-dom
// The page is on http://localhost:3000; the API is cross-origin, where browsers hide
// WWW-Authenticate unless the API exposes it.
import { getResponse, http, HttpResponse } from 'msw'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp } from '../../src/index.js'
import { createFakeApi, type FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'

let op: FakeOp
let api: FakeApi
let extra: ReturnType<typeof http.get>[]
const router: typeof fetch = async (input, init) => {
  const request = new Request(input, init)
  const response = await getResponse([...extra, ...op.handlers, ...api.handlers], request)
  if (!response) throw new Error(`unhandled ${request.method} ${request.url}`)
  return response
}

beforeEach(() => {
  op = createFakeOp()
  api = createFakeApi(op)
  extra = []
})

const client = () => createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, fetch: router })

/** A client protecting the page's own origin; `sent` lists what reached its fetch (URL as given, token or not). */
function pageClient() {
  const sent: Array<[string, boolean]> = []
  const stepUp = createStepUp({
    issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, interaction: op.interaction,
    protect: [location.origin],
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url.startsWith(ISSUER)) return router(input, init)
      sent.push([url, (input instanceof Request ? input.headers : new Headers(init?.headers)).has('authorization')])
      return new Response('ok')
    },
  })
  return { stepUp, sent }
}

/** Signed in, then a protected 401 whose challenge the browser hid: it comes back untouched. */
async function signedInHidden() {
  extra = [http.get(`${API}/hidden`, () => new HttpResponse('nope', { status: 401 }))]
  const stepUp = client()
  await stepUp.authorize()
  const res = await stepUp.fetch(`${API}/hidden`)
  expect(res.status).toBe(401)
  expect(await res.text()).toBe('nope')
  return stepUp
}

describe('cross-origin challenges', () => {
  it('reports challenge_unreadable once per origin when a protected 401 hides its challenge, and passes it through', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const stepUp = await signedInHidden()
    expect(stepUp.getState().diagnostic).toMatchObject({ code: 'challenge_unreadable' })
    expect(stepUp.getState().diagnostic?.message).toMatch(/Access-Control-Expose-Headers: WWW-Authenticate/)
    await stepUp.fetch(`${API}/hidden`)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(op.authorizations).toHaveLength(1)
  })

  it('passes the 401 through untouched when the diagnostic chunk does not load', async () => {
    vi.doMock('../../src/challenge/unreadable.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module')
    })
    try {
      const stepUp = await signedInHidden()
      expect(stepUp.getState()).toMatchObject({ status: 'idle', authenticated: true })
      expect(stepUp.getState().diagnostic).toBeUndefined()
      expect(op.authorizations).toHaveLength(1)
    } finally {
      vi.doUnmock('../../src/challenge/unreadable.js')
    }
  })

  it('does not report a 401 sent without a token (a plain "sign in first")', async () => {
    extra = [http.get(`${API}/hidden`, () => new HttpResponse(null, { status: 401 }))]
    const stepUp = client()
    await stepUp.fetch(`${API}/hidden`)
    expect(stepUp.getState().diagnostic).toBeUndefined()
  })

  it('falls back to the JSON body challenge when the header is hidden', async () => {
    extra = [
      http.post(`${API}/body-only`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa'
          ? HttpResponse.json({ ok: true })
          : HttpResponse.json({ error: 'insufficient_user_authentication', acr_values: 'urn:test:2fa', max_age: 60 }, { status: 401 }),
      ),
    ]
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/body-only`, { method: 'POST', body: 'x' })
    expect(res.status).toBe(200)
    expect(op.authorizations[1]!.searchParams.get('acr_values')).toBe('urn:test:2fa')
    expect(op.authorizations[1]!.searchParams.get('max_age')).toBe('60')
    expect(stepUp.getState().diagnostic).toBeUndefined()
  })

  it('resolves relative URLs against the document base (<base href>), never sending the token elsewhere', async () => {
    vi.spyOn(document, 'baseURI', 'get').mockReturnValue('https://cdn.thirdparty.test/')
    const { stepUp, sent } = pageClient()
    await stepUp.authorize()
    await stepUp.fetch('/api/me')
    expect(sent).toEqual([['/api/me', false]])
  })

  it('checks a relative URL again when the document base changes (the same string, another target)', async () => {
    const base = vi.spyOn(document, 'baseURI', 'get').mockReturnValue(`${location.origin}/`)
    const { stepUp, sent } = pageClient()
    await stepUp.authorize()
    await stepUp.fetch('api/me')
    base.mockReturnValue('https://cdn.thirdparty.test/app/')
    await stepUp.fetch('api/me')
    base.mockReturnValue(`${location.origin}/`)
    await stepUp.fetch('api/me')
    // The custom fetch receives a Request (resolved by happy-dom against its own URL) when the
    // token goes, and the app's relative string, untouched, when it does not.
    expect(sent).toEqual([[`${location.origin}/api/me`, true], ['api/me', false], [`${location.origin}/api/me`, true]])
  })
})
