// @vitest-environment node
// Expiry and refresh against the REAL OP (oidc-provider, rotating refresh tokens) and the REAL
// resource server (jose verifies `exp`: an expired token gets 401 invalid_token). Access tokens
// live 2 s here, so the tests wait for real expiry (a few seconds each).
import { describe, expect, it } from 'vitest'
import { ACR_1FA, ACR_2FA } from '../../servers/op.js'
import { createStepUp, type Interaction, type StepUpOptions } from '../../src/index.js'
import { createUserAgent, type UserAgent } from '../servers/login.js'
import { clientOf, useRealServers } from './real-servers.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Past the 2 s lifetime (and the whole second the OP rounds `exp` to). */
const expire = () => sleep(3100)

function person(ua: UserAgent): Interaction {
  return (url, ctx) => ua.interaction({ otp: (url.searchParams.get('acr_values') ?? '').includes(ACR_2FA) })(url, ctx)
}

function setup(servers: ReturnType<typeof useRealServers>, overrides: Partial<StepUpOptions> = {}) {
  const ua = createUserAgent()
  const grants: string[] = []
  // Counts the token requests by grant type; everything else goes through untouched.
  const counting: typeof fetch = (input, init) => {
    if (init?.body instanceof URLSearchParams) grants.push(init.body.get('grant_type') ?? '')
    return fetch(input, init)
  }
  const stepUp = createStepUp({ ...clientOf(servers), interaction: person(ua), fetch: counting, ...overrides })
  const refreshes = () => grants.filter((g) => g === 'refresh_token').length
  return { ua, stepUp, refreshes }
}

const post = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('refresh against a real OP with rotating refresh tokens', () => {
  // maxAgeLeeway 0: the quick route's 3 s window is exactly 3 s.
  const servers = useRealServers({ op: { accessTokenTtl: 2 }, api: { maxAgeLeeway: 0 } })
  const hits = (path: string) => servers.api.requests.filter((r) => r.path === path)

  it('a request after expiry refreshes once and succeeds; concurrent ones share that refresh', async () => {
    const { ua, stepUp, refreshes } = setup(servers)
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    await expire()
    const responses = await Promise.all([1, 2, 3].map(() => stepUp.fetch(`${servers.api.url}/api/balance`)))
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200])
    expect(refreshes()).toBe(1)
    expect(ua.authorizations).toBe(1)
    // Rotation: the next expiry is refreshed with the new refresh token (the spent one would be invalid_grant).
    await expire()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect(refreshes()).toBe(2)
    expect(hits('/api/balance').map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice', acr: ACR_1FA })
  })

  it('the refreshed elevated token keeps acr 2fa, with no new step-up', async () => {
    const { ua, stepUp, refreshes } = setup(servers)
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/echo`, post({ n: 1 }))).status).toBe(200)
    expect(ua.authorizations).toBe(2)
    const authTime = stepUp.getState().authTime
    await expire()
    const res = await stepUp.fetch(`${servers.api.url}/api/echo`, post({ n: 2 }))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ acr: ACR_2FA })
    expect(refreshes()).toBe(1)
    expect(ua.authorizations).toBe(2)
    expect(stepUp.getState()).toMatchObject({ acr: ACR_2FA, amr: ['pwd', 'otp'], authTime })
    // The API saw the same auth_time in the refreshed access token.
    expect(hits('/api/echo').at(-1)).toMatchObject({ status: 200, acr: ACR_2FA, authTime })
  })

  it('a max_age route past its window steps up again instead of refreshing forever', async () => {
    servers.api.addRoute({ method: 'POST', path: '/api/quick', acr: ACR_2FA, maxAge: 3 })
    const { ua, stepUp, refreshes } = setup(servers)
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/quick`, post({ n: 1 }))).status).toBe(200)
    expect(ua.authorizations).toBe(2)
    await sleep(4200) // past the access token's expiry and the route's 3 s window
    const res = await stepUp.fetch(`${servers.api.url}/api/quick`, post({ n: 2 }))
    expect(res.status).toBe(200)
    expect(ua.authorizations).toBe(3)
    expect(ua.flows[2]!.authorizationUrl.searchParams.get('max_age')).toBe('3')
    expect(hits('/api/quick').map((r) => [r.status, r.error])).toEqual([
      [401, 'insufficient_user_authentication'],
      [200, undefined],
      [401, 'insufficient_user_authentication'],
      [200, undefined],
    ])
    expect(refreshes()).toBe(1) // the baseline token, sent first; the stale elevated one is not offered
  })
})

describe('without refresh tokens (refreshTokens: false)', () => {
  const servers = useRealServers({ op: { accessTokenTtl: 2, refreshTokens: false } })

  it('an expired session says signed out, sends no token, and nothing loops or prompts', async () => {
    const { ua, stepUp, refreshes } = setup(servers)
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    await expire()
    const res = await stepUp.fetch(`${servers.api.url}/api/balance`)
    expect(res.status).toBe(401)
    expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false, expired: true })
    expect(servers.api.requests.map((r) => [r.status, r.authorization])).toEqual([
      [200, true],
      [401, false],
    ])
    expect(refreshes()).toBe(0)
    expect(ua.authorizations).toBe(1)
    // The app offers a sign-in; it works as the first did.
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice' })
  })
})
