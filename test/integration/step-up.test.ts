// @vitest-environment node
// The SDK against a REAL OpenID Provider (oidc-provider) and a REAL resource server that verifies
// JWT access tokens with jose, all on 127.0.0.1. The user logs in over HTTP (test/servers/login.ts).
import { describe, expect, it } from 'vitest'
import { ACR_1FA, ACR_2FA } from '../../servers/op.js'
import { createStepUp, isStepUpError, type Interaction, type StepUpOptions } from '../../src/index.js'
import { clientOf, useRealServers } from './real-servers.js'
import { createUserAgent, type InteractionOptions, type UserAgent } from '../servers/login.js'

const servers = useRealServers()

/** A person at the login page: types the one-time code whenever the page asks for it. */
function person(ua: UserAgent, options: InteractionOptions = {}): Interaction {
  return (url, ctx) => {
    const wants2fa = (url.searchParams.get('acr_values') ?? url.searchParams.get('claims') ?? '').includes(ACR_2FA)
    return ua.interaction({ otp: wants2fa, ...options })(url, ctx)
  }
}

function setup(overrides: Partial<StepUpOptions> & { ua?: UserAgent } = {}) {
  const ua = overrides.ua ?? createUserAgent()
  const stepUp = createStepUp({ ...clientOf(servers), interaction: person(ua), ...overrides })
  return { ua, stepUp }
}

const transfer = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const hits = (path: string) => servers.api.requests.filter((r) => r.path === path)

describe('step-up against a real OP and API', () => {
  it('signs in at 1fa, then reads the balance', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice', acr: ACR_1FA, amr: ['pwd'] })
    const res = await stepUp.fetch(`${servers.api.url}/api/balance`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ acr: ACR_1FA })
    expect(ua.authorizations).toBe(1)
  })

  it('steps up to 2fa for a transfer and replays the body byte for byte', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    const body = { to: 'bob', amount: 42.5, note: 'ünïcödé' }
    const res = await stepUp.fetch(`${servers.api.url}/api/echo`, transfer(body))
    expect(res.status).toBe(200)
    const echoed = (await res.json()) as { bodyBase64: string; contentType: string }
    expect(Buffer.from(echoed.bodyBase64, 'base64').toString()).toBe(JSON.stringify(body))
    expect(echoed.contentType).toBe('application/json')
    expect(ua.authorizations).toBe(2)
    expect(ua.flows[1]).toMatchObject({ loginShown: true, otpAsked: true })
    expect(ua.flows[1]!.authorizationUrl.searchParams.get('acr_values')).toBe(ACR_2FA)
    expect(hits('/api/echo').map((r) => r.status)).toEqual([401, 200])
    expect(stepUp.getState()).toMatchObject({ acr: ACR_2FA, amr: ['pwd', 'otp'] })
  })

  it('sends max_age from the challenge and verifies auth_time', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    const res = await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))
    expect(res.status).toBe(200)
    expect(ua.flows[1]!.authorizationUrl.searchParams.get('max_age')).toBe('300')
  })

  it('reuses the elevated token for the next transfer without a flow, and keeps the 1fa token for reads', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))
    servers.api.resetRequests()
    expect((await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 2 }))).status).toBe(200)
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect(ua.authorizations).toBe(2)
    expect(servers.api.requests.map((r) => [r.path, r.status, r.acr])).toEqual([
      ['/api/transfer', 200, ACR_2FA],
      ['/api/balance', 200, ACR_1FA],
    ])
  })

  it('fails with acr_not_satisfied when the OP issues a lower acr, and does not retry', async () => {
    const { stepUp } = setup()
    await stepUp.authorize()
    servers.op.setLoginAcr(ACR_1FA) // an OP that treats acr_values as a hint
    const error = await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 })).catch((e: unknown) => e)
    expect(isStepUpError(error, 'acr_not_satisfied')).toBe(true)
    expect(hits('/api/transfer')).toHaveLength(1)
    expect(stepUp.getState().acr).toBe(ACR_1FA)
  })

  it('catches an OP that quietly returns 1fa when the user skips the code (acr_values is a hint)', async () => {
    const ua = createUserAgent()
    const { stepUp } = setup({ ua, interaction: (url, ctx) => ua.interaction({ otp: false })(url, ctx) })
    await stepUp.authorize()
    await expect(stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))).rejects.toMatchObject({ code: 'acr_not_satisfied' })
  })

  it("makes the OP enforce the acr with requestAcrWith: 'claims'", async () => {
    const { ua, stepUp } = setup({ requestAcrWith: 'claims' })
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))).status).toBe(200)
    const claims = JSON.parse(ua.flows[1]!.authorizationUrl.searchParams.get('claims')!)
    expect(claims).toEqual({ id_token: { acr: { essential: true, values: [ACR_2FA] } } })
  })

  it('ends in loop_detected after exactly one flow when the API always challenges', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    await expect(stepUp.fetch(`${servers.api.url}/api/always-challenge`)).rejects.toMatchObject({ code: 'loop_detected' })
    expect(ua.authorizations).toBe(2)
    expect(hits('/api/always-challenge')).toHaveLength(2)
  })

  it('runs ONE flow for 20 concurrent step-ups and retries all of them', async () => {
    const { ua, stepUp } = setup()
    await stepUp.authorize()
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stepUp.fetch(`${servers.api.url}/api/echo`, transfer({ i }))))
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    const bodies = await Promise.all(results.map(async (r) => JSON.parse(Buffer.from(((await r.json()) as { bodyBase64: string }).bodyBase64, 'base64').toString()) as { i: number }))
    expect(bodies.map((b) => b.i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(ua.authorizations).toBe(2)
    expect(hits('/api/echo')).toHaveLength(40)
  })

  it('maps the OP error callback unmet_authentication_requirements, and keeps the request un-retried', async () => {
    const { stepUp } = setup()
    await stepUp.authorize()
    servers.op.setInteractionError('unmet_authentication_requirements', 'no second factor enrolled')
    const error = await stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 })).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'unmet_authentication_requirements', opError: 'unmet_authentication_requirements', opErrorDescription: 'no second factor enrolled' })
    expect(hits('/api/transfer')).toHaveLength(1)
  })

  it('maps a user cancel (access_denied) to authorization_error', async () => {
    const ua = createUserAgent()
    const { stepUp } = setup({ ua })
    await stepUp.authorize()
    const cancelling = createStepUp({ issuer: servers.op.issuer, clientId: servers.op.clientId, redirectUri: servers.op.redirectUri, protect: [servers.api.url], interaction: (url, ctx) => ua.interaction({ cancel: true })(url, ctx) })
    await expect(cancelling.authorize({ acrValues: [ACR_2FA] })).rejects.toMatchObject({ code: 'authorization_error', opError: 'access_denied' })
  })

  it('rejects an altered state with state_mismatch and redeems nothing', async () => {
    const ua = createUserAgent()
    const tamper: Interaction = async (url, ctx) => {
      const callback = new URL(String(await person(ua)(url, ctx)))
      callback.searchParams.set('state', 'attacker-chosen')
      return callback
    }
    const { stepUp } = setup({ ua, interaction: tamper })
    await expect(stepUp.authorize()).rejects.toMatchObject({ code: 'state_mismatch' })
    expect(stepUp.getState().authenticated).toBe(false)
  })

  it('fails with subject_mismatch when the step-up signs in somebody else', async () => {
    const { stepUp } = setup()
    await stepUp.authorize()
    servers.op.setAccountId('mallory')
    await expect(stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))).rejects.toMatchObject({ code: 'subject_mismatch' })
    expect(stepUp.getState().sub).toBe('alice')
  })

  it('re-authenticates for max_age=0 and the retry is accepted', async () => {
    const { ua, stepUp } = setup()
    servers.op.setAuthTimeAgo(60) // a 2fa session from a minute ago: too old for max_age=0
    await stepUp.authorize({ acrValues: [ACR_2FA] })
    servers.op.setAuthTimeAgo(null)
    const res = await stepUp.fetch(`${servers.api.url}/api/fresh`)
    expect(res.status).toBe(200)
    expect(ua.authorizations).toBe(2)
    expect(ua.flows.at(-1)!.authorizationUrl.searchParams.get('max_age')).toBe('0')
    expect(ua.flows.at(-1)!.loginShown).toBe(true)
  })

  it('rejects max_age_exceeded when the OP reports an old auth_time', async () => {
    const { stepUp } = setup()
    await stepUp.authorize()
    servers.op.setAuthTimeAgo(3600)
    await expect(stepUp.fetch(`${servers.api.url}/api/transfer`, transfer({ amount: 1 }))).rejects.toMatchObject({ code: 'max_age_exceeded' })
  })

  it('cancels the flow when the only waiting request is aborted, and never replays it', async () => {
    const ua = createUserAgent()
    const seen: AbortSignal[] = []
    const slow: Interaction = (url, ctx) => {
      if (url.searchParams.has('acr_values')) seen.push(ctx.signal)
      return person(ua, url.searchParams.has('acr_values') ? { delayMs: 5_000 } : {})(url, ctx)
    }
    const { stepUp } = setup({ ua, interaction: slow })
    await stepUp.authorize()
    const controller = new AbortController()
    const pending = stepUp.fetch(`${servers.api.url}/api/transfer`, { ...transfer({ amount: 1 }), signal: controller.signal })
    await expect.poll(() => seen.length).toBe(1)
    controller.abort()
    const error = await pending.catch((e: unknown) => e)
    expect((error as DOMException).name).toBe('AbortError')
    expect(seen[0]!.aborted).toBe(true)
    expect(hits('/api/transfer')).toHaveLength(1)
  })
})
