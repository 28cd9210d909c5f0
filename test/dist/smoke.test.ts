// The built package, resolved through package.json "exports" like an app would (run after `npm run build`).
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStepUp, isStepUpError, parseWwwAuthenticate, StepUpError } from 'stepup-fetch'
import { createFakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'

const op = createFakeOp()
const api = createFakeApi(op)
const server = setupServer(...op.handlers, ...api.handlers)
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

describe('dist/index.js', () => {
  it('runs a step-up and a retry', async () => {
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    expect(res.status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
  })

  it('exports one StepUpError class and the parser', () => {
    expect(() => parseWwwAuthenticate('Bearer a="unterminated')).toThrow(StepUpError)
    expect(isStepUpError(new StepUpError('aborted', 'x'), 'aborted')).toBe(true)
  })
})

describe('dist: the DPoP chunk', () => {
  it('loads on demand under Node and binds the token: Authorization DPoP with a proof of the key the token endpoint saw', async () => {
    const seen: Array<{ url: string; authorization: string | null; dpop: string | null }> = []
    const stepUp = createStepUp({
      issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, dpop: true,
      fetch: async (input, init) => {
        const request = new Request(input, init)
        seen.push({ url: request.url, authorization: request.headers.get('authorization'), dpop: request.headers.get('dpop') })
        // The fake API knows Bearer only; what went out is recorded above.
        if (request.url.startsWith(API)) request.headers.set('authorization', request.headers.get('authorization')!.replace(/^DPoP /, 'Bearer '))
        const response = await fetch(request)
        if (request.url !== `${ISSUER}/token` || !response.ok) return response
        return Response.json({ ...((await response.json()) as object), token_type: 'DPoP' })
      },
    })
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>
    const token = seen.find((r) => r.url === `${ISSUER}/token`)!
    const call = seen.find((r) => r.url === `${API}/balance`)!
    expect(call.authorization).toMatch(/^DPoP /)
    const [tokenHeader] = token.dpop!.split('.').slice(0, 2).map(decode)
    const [header, claims] = call.dpop!.split('.').slice(0, 2).map(decode)
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' })
    expect(header!.jwk).toEqual(tokenHeader!.jwk)
    expect(claims).toMatchObject({ htm: 'GET', htu: `${API}/balance` })
  })
})
