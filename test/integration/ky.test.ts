// @vitest-environment node
// stepup-fetch/ky against the REAL OpenID Provider (oidc-provider) and the REAL jose-verifying
// resource server on 127.0.0.1, with a user who takes longer at the OP than ky's timeout.
import ky, { HTTPError, TimeoutError } from 'ky'
import { describe, expect, it } from 'vitest'
import { ACR_2FA } from '../../servers/op.js'
import { createStepUp, type StepUp } from '../../src/index.js'
import { createStepUpKy } from '../../src/ky/index.js'
import { useRealServers } from './real-servers.js'
import { createUserAgent } from '../servers/login.js'

const servers = useRealServers()

/** ky's per-exchange timeout in these tests, and how long the user takes at the OP (3×). */
const TIMEOUT = 400
const USER_MS = 1200

/** Signed in at 1fa; the step-up user types the one-time code, taking USER_MS. */
async function signedIn(): Promise<StepUp> {
  const ua = createUserAgent()
  const stepUp = createStepUp({
    issuer: servers.op.issuer, clientId: servers.op.clientId, redirectUri: servers.op.redirectUri, protect: [servers.api.url],
    interaction: (url, ctx) => {
      const stepUp2fa = (url.searchParams.get('acr_values') ?? '').includes(ACR_2FA)
      return ua.interaction(stepUp2fa ? { otp: true, delayMs: USER_MS } : {})(url, ctx)
    },
  })
  await stepUp.authorize()
  return stepUp
}

describe('stepup-fetch/ky against a real OP and API', () => {
  it('steps up a POST while the user takes 3× the ky timeout, and replays the JSON body', async () => {
    const client = createStepUpKy(await signedIn(), { prefix: servers.api.url, timeout: TIMEOUT })
    const body = { to: 'bob', amount: 42.5, note: 'ünïcödé' }
    const started = Date.now()
    const echoed = await client.post('api/echo', { json: body }).json<{ bodyBase64: string; contentType: string }>()
    expect(Date.now() - started).toBeGreaterThan(USER_MS)
    expect(Buffer.from(echoed.bodyBase64, 'base64').toString()).toBe(JSON.stringify(body))
    expect(echoed.contentType).toBe('application/json')
    expect(servers.api.requests.filter((r) => r.path === '/api/echo').map((r) => [r.status, r.acr])).toEqual([
      [401, 'urn:demo:loa:1fa'],
      [200, ACR_2FA],
    ])
  })

  it('(control) plain ky with fetch: stepUp.fetch times out in the same situation', async () => {
    const stepUp = await signedIn()
    const error = await ky.post(`${servers.api.url}/api/echo`, { json: { amount: 1 }, fetch: stepUp.fetch, timeout: TIMEOUT }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
  })

  it('keeps HTTPError for a plain 401 and a 404 from the real API', async () => {
    const signedOut = createStepUp({ issuer: servers.op.issuer, clientId: servers.op.clientId, redirectUri: servers.op.redirectUri, protect: [servers.api.url], interaction: createUserAgent().interaction() })
    const client = createStepUpKy(signedOut, { prefix: servers.api.url, retry: 0 })
    await expect(client.get('api/balance')).rejects.toSatisfy((e) => e instanceof HTTPError && e.response.status === 401)
    await expect(client.get('api/nowhere')).rejects.toSatisfy((e) => e instanceof HTTPError && e.response.status === 404)
    expect((await client.get('api/public').json())).toEqual({ hello: 'world' })
  })
})
