import ky, { HTTPError, isTimeoutError, TimeoutError, type KyInstance, type Options } from 'ky'
import { http, HttpResponse } from 'msw'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, StepUpError, type Interaction, type StepUp } from '../../src/index.js'
import { createStepUpKy, stepUpHooks } from '../../src/ky/index.js'
import { deferred } from '../deferred.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'

const ctx = useFakeServers()
afterEach(() => vi.useRealTimers())

/** A step-up the test finishes when it wants to: `user.done()` is the user leaving the OP. */
function slowUser() {
  let gate: Promise<void> = Promise.resolve()
  let started = 0
  const interaction: Interaction = async (url, c) => {
    started++
    await gate
    return ctx.op.interaction(url, c)
  }
  return {
    interaction,
    get started() {
      return started
    },
    /** From now on the user takes until `done()`. */
    slow() {
      const d = deferred()
      gate = d.promise
      return d.resolve
    },
  }
}

async function signedIn(interaction: Interaction = ctx.op.interaction): Promise<StepUp> {
  const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction })
  await stepUp.authorize()
  return stepUp
}

/** Wait for `condition` without moving fake timers (vi.waitFor advances them). */
async function until(condition: () => boolean): Promise<void> {
  // Real time (only setTimeout is faked), not a count of turns: a loaded machine needs more turns.
  const end = Date.now() + 5_000
  while (!condition() && Date.now() < end) await new Promise((resolve) => setImmediate(resolve))
  expect(condition()).toBe(true)
}

/** A GET of `slow` (which never answers) through `api` times out after exactly `ms` of fake time. */
async function expectTimeoutAfter(api: KyInstance, ms: number): Promise<void> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  ctx.server.use(http.get(`${API}/slow`, hangForever))
  let outcome: unknown
  void api.get('slow').catch((e: unknown) => (outcome = e))
  await vi.advanceTimersByTimeAsync(ms - 1)
  expect(outcome).toBeUndefined()
  await vi.advanceTimersByTimeAsync(1)
  expect(outcome).toBeInstanceOf(TimeoutError)
}

const transfers = () => ctx.api.calls.filter((c) => c.path === '/transfer')
const hangForever = () => new Promise<never>(() => {})

describe('createStepUpKy', () => {
  it('steps up once and retries the POST with the same JSON body', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API })
    const body = { to: 'bob', amount: 42.5, note: 'ünïcödé' }
    const res = await api.post('transfer', { json: body }).json<{ ok: boolean; acr: string; body: string; contentType: string }>()
    expect(res).toMatchObject({ ok: true, acr: 'urn:test:2fa', contentType: 'application/json' })
    expect(Buffer.from(res.body, 'base64').toString()).toBe(JSON.stringify(body))
    expect(transfers().map((c) => [c.authorization?.slice(0, 7), Buffer.from(c.body, 'base64').toString()])).toEqual([
      ['Bearer ', JSON.stringify(body)],
      ['Bearer ', JSON.stringify(body)],
    ])
    expect(transfers()[0]!.authorization).not.toBe(transfers()[1]!.authorization)
    expect(ctx.op.authorizations).toHaveLength(2)
  })

  it('is not cut off by ky’s default 10 s timeout while the user takes 15 s at the OP', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const user = slowUser()
    const api = createStepUpKy(await signedIn(user.interaction), { prefix: API })
    const done = user.slow()
    let outcome: unknown
    const pending = api.post('transfer', { json: { amount: 1 } }).then((r) => (outcome = r.status), (e: unknown) => (outcome = e))
    await until(() => user.started === 2)
    await vi.advanceTimersByTimeAsync(15_000)
    expect(outcome).toBeUndefined()
    done()
    await pending
    expect(outcome).toBe(200)
  })

  it('(control) plain ky with fetch: stepUp.fetch IS cut off at 10 s, which the adapter prevents', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const user = slowUser()
    const stepUp = await signedIn(user.interaction)
    user.slow()
    let outcome: unknown
    void ky.post(`${API}/transfer`, { json: { amount: 1 }, fetch: stepUp.fetch }).then((r) => (outcome = r.status), (e: unknown) => (outcome = e))
    await until(() => user.started === 2)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(outcome).toBeInstanceOf(TimeoutError)
  })

  it('keeps ky’s timeout on each exchange: the first request and the retry after the step-up', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API })
    await expectTimeoutAfter(api, 10_000)

    // Challenged, stepped up, and then the retry hangs: timed like any exchange (here 3 s per call).
    let seen = 0
    ctx.server.use(
      http.post(`${API}/transfer`, () => (++seen === 1 ? new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa"' } }) : hangForever())),
    )
    let retry: unknown
    void api.post('transfer', { body: 'x', timeout: 3_000 }).catch((e: unknown) => (retry = e))
    await until(() => seen === 2)
    await vi.advanceTimersByTimeAsync(2_999)
    expect(retry).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(isTimeoutError(retry)).toBe(true)
    expect(ctx.op.authorizations).toHaveLength(2)
  })

  it('sends the token only to protected URLs', async () => {
    const api = createStepUpKy(await signedIn())
    const seen: Array<string | null> = []
    ctx.server.use(http.get('https://third-party.test/data', ({ request }) => (seen.push(request.headers.get('authorization')), HttpResponse.json({}))))
    await api.get('https://third-party.test/data').json()
    await api.get(`${API}/balance`).json()
    expect(seen).toEqual([null])
    expect(ctx.api.calls.at(-1)!.authorization).toMatch(/^Bearer at-/)
  })

  it('keeps throwHttpErrors for everything that is not a step-up challenge', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API, retry: 0 })
    ctx.server.use(http.get(`${API}/boom`, () => new HttpResponse('nope', { status: 500 })))
    const error = await api.get('boom').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).response.status).toBe(500)
    const signedOut = createStepUpKy(createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: ctx.op.interaction }), { prefix: API })
    await expect(signedOut.get('balance')).rejects.toMatchObject({ name: 'HTTPError', response: { status: 401 } })
    const lenient = createStepUpKy(await signedIn(), { prefix: API, throwHttpErrors: false })
    expect((await lenient.get('boom')).status).toBe(500)
  })

  it('rejects with the StepUpError on a loop, and ky does not retry it', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API })
    const error = await api.get('always').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StepUpError)
    expect(error).toMatchObject({ code: 'loop_detected' })
    expect(ctx.api.calls.filter((c) => c.path === '/always')).toHaveLength(2)
    expect(ctx.op.authorizations).toHaveLength(2)
  })

  it('steps up with retry: 0 (ky’s retry budget is not used for it)', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API, retry: 0 })
    expect((await api.post('transfer', { body: 'x' })).status).toBe(200)
  })

  it('honours an abort signal through the step-up', async () => {
    const user = slowUser()
    const api = createStepUpKy(await signedIn(user.interaction), { prefix: API })
    user.slow()
    const controller = new AbortController()
    const pending = api.post('transfer', { body: 'x', signal: controller.signal }).catch((e: unknown) => e)
    await until(() => user.started === 2)
    controller.abort()
    expect(await pending).toMatchObject({ name: 'AbortError' })
    expect(transfers()).toHaveLength(1)
  })

  it('runs the app’s own hooks and options, its init hooks before ours', async () => {
    const order: string[] = []
    const api = createStepUpKy(await signedIn(), {
      prefix: API,
      headers: { 'x-app': '1' },
      hooks: {
        init: [(options) => void order.push(`init timeout=${String(options.timeout)}`)],
        afterResponse: [({ response }) => void order.push(`after ${response.status}`)],
      },
    })
    await api.post('transfer', { body: 'x', timeout: 5_000 })
    // afterResponse sees only the final response: the challenge was handled inside the exchange.
    expect(order).toEqual(['init timeout=5000', 'after 200'])
  })
})

/** Headers arrive, the body never finishes. */
const stalledBody = () =>
  new HttpResponse(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('{"a":')) }), { headers: { 'content-type': 'application/json' } })
const challenge = (params: string) => new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': `Bearer error="insufficient_user_authentication", ${params}` } })

/** `.json()` of a body that stalls, with `ms` of fake time; resolves with what it rejected with, if it did. */
async function readStalledJson(client: Pick<typeof ky, 'get'>, ms: number): Promise<unknown> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  ctx.server.use(http.get('https://third-party.test/stall', stalledBody))
  let outcome: unknown
  void client.get('https://third-party.test/stall').json().catch((e: unknown) => (outcome = e))
  await vi.advanceTimersByTimeAsync(ms)
  for (let i = 0; i < 50 && outcome === undefined; i++) await new Promise((resolve) => setImmediate(resolve))
  return outcome
}

describe('createStepUpKy: ky’s timeout on body reads', () => {
  it('(control) plain ky times out a stalled body read in .json()', async () => {
    expect(isTimeoutError(await readStalledJson(ky, 10_000))).toBe(true)
  })

  it('times out a stalled body read in .json() like plain ky, for an unprotected URL', async () => {
    expect(isTimeoutError(await readStalledJson(createStepUpKy(await signedIn()), 10_000))).toBe(true)
  })

  it('times out a stalled body read after a step-up with the call’s own timeout, counted from the read', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const api = createStepUpKy(await signedIn(), { prefix: API })
    let n = 0
    ctx.server.use(http.get(`${API}/stall`, () => (++n === 1 ? challenge('acr_values="urn:test:2fa"') : stalledBody())))
    const response = await api.get('stall', { timeout: 2_000 })
    expect(response.status).toBe(200)
    await vi.advanceTimersByTimeAsync(5_000) // the body read has not started: nothing times it yet
    let outcome: unknown
    void response.text().catch((e: unknown) => (outcome = e))
    await vi.advanceTimersByTimeAsync(1_999)
    expect(outcome).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    await until(() => outcome !== undefined)
    expect(isTimeoutError(outcome)).toBe(true)
    expect(ctx.op.authorizations).toHaveLength(2)
  })

  it('leaves body reads unbounded with timeout: false', async () => {
    expect(await readStalledJson(createStepUpKy(await signedIn(), { timeout: false }), 60_000)).toBeUndefined()
  })
})

describe('createStepUpKy and init hooks added by a later extend()', () => {
  it('a later timeout becomes the per-exchange timeout; ky never times the step-up', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API }).extend({ hooks: { init: [(o) => void (o.timeout = 20_000)] } })
    let seen: unknown
    const probe = api.extend({ hooks: { init: [(o) => void (seen = o.timeout)] } })
    await probe.get('balance')
    expect(seen).toBe(false)
  })

  it('a later timeout still times each exchange', async () => {
    await expectTimeoutAfter(createStepUpKy(await signedIn(), { prefix: API }).extend({ hooks: { init: [(o) => void (o.timeout = 3_000)] } }), 3_000)
  })

  it('a later fetch goes underneath the SDK instead of bypassing it, wrapper or not', async () => {
    const seen: string[] = []
    const replacing = createStepUpKy(await signedIn(), { prefix: API }).extend({
      hooks: { init: [(o) => void (o.fetch = (input, init) => (seen.push('app fetch'), globalThis.fetch(input, init)))] },
    })
    expect((await replacing.post('transfer', { body: 'x' })).status).toBe(200)
    expect(seen).toEqual(['app fetch', 'app fetch']) // the request and the retry after the step-up
    expect(transfers().map((c) => c.authorization?.slice(0, 7))).toEqual(['Bearer ', 'Bearer '])

    // The usual wrapper reads options.fetch (ours) first: it must not loop back into the SDK,
    // whether it calls it at once (here with a copy of the request) or after an await.
    for (const later of [false, true]) {
      const wrapping = createStepUpKy(await signedIn(), { prefix: API }).extend({
        hooks: {
          init: [
            (o) => {
              const previous = o.fetch!
              o.fetch = async (input, init) => {
                seen.push('wrapper')
                if (!later) return previous(new Request(input as Request), init)
                await Promise.resolve()
                return previous(input, init)
              }
            },
          ],
        },
      })
      seen.length = 0
      expect((await wrapping.post('transfer', { body: 'x' })).status).toBe(200)
      expect(seen).toEqual(['wrapper', 'wrapper'])
    }
    expect(ctx.op.authorizations).toHaveLength(6) // three sign-ins, three step-ups
  })

  it('passes ky’s extra fetch arguments (Next.js `next`, undici `dispatcher`) to the app’s fetch', async () => {
    const extras: unknown[] = []
    const appFetch: typeof fetch = (input, init) => (extras.push(init), globalThis.fetch(input, init))
    const api = createStepUpKy(await signedIn(), { prefix: API, fetch: appFetch, next: { revalidate: 5 } } as Options)
    expect((await api.post('transfer', { body: 'x' })).status).toBe(200)
    expect(extras).toEqual([{ next: { revalidate: 5 } }, { next: { revalidate: 5 } }])
  })

  it('passes ky’s extra fetch arguments to the client’s own fetch when ky has no fetch option', async () => {
    const extras: unknown[] = []
    // The OP's requests (discovery, token) go through it too; only the API's are ky's.
    const clientFetch: typeof fetch = (input, init) => {
      if ((input instanceof Request ? input.url : String(input)).startsWith(API)) extras.push(init)
      return globalThis.fetch(input, init)
    }
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: ctx.op.interaction, fetch: clientFetch })
    await stepUp.authorize()
    extras.length = 0
    const api = createStepUpKy(stepUp, { prefix: API, next: { revalidate: 5 } } as Options)
    expect((await api.post('transfer', { body: 'x' })).status).toBe(200)
    expect(extras).toEqual([{ next: { revalidate: 5 } }, { next: { revalidate: 5 } }])
  })

  it('rejects a timeout above setTimeout’s ceiling with ky’s RangeError', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API })
    await expect(api.get('balance', { timeout: 2_147_483_648 })).rejects.toThrow(RangeError)
  })
})

describe('createStepUpKy and ky’s retry', () => {
  it('a challenge on a ky retry after a step-up rejects with loop_detected instead of a second step-up', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API, retry: { limit: 2, delay: () => 0 } })
    let n = 0
    // A route that demands re-authentication now (max_age=0) from every call without a brand-new token.
    ctx.server.use(http.get(`${API}/fresh`, () => (++n === 2 ? new HttpResponse(null, { status: 503 }) : n === 4 ? HttpResponse.json({}) : challenge('acr_values="urn:test:2fa", max_age=0'))))
    const error = await api.get('fresh').json().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StepUpError)
    expect(error).toMatchObject({ code: 'loop_detected', challenge: { maxAge: 0 } })
    expect(n).toBe(3)
    expect(ctx.op.authorizations).toHaveLength(2) // the sign-in and one step-up
  })

  it('a ky retry after a step-up that is not challenged goes through', async () => {
    const api = createStepUpKy(await signedIn(), { prefix: API, retry: { limit: 2, delay: () => 0 } })
    let n = 0
    ctx.server.use(http.get(`${API}/flaky`, () => (++n === 1 ? challenge('acr_values="urn:test:2fa"') : n === 2 ? new HttpResponse(null, { status: 503 }) : HttpResponse.json({ n }))))
    expect(await api.get('flaky').json()).toEqual({ n: 3 })
    expect(ctx.op.authorizations).toHaveLength(2)
  })
})

describe('stepUpHooks', () => {
  it('a different client added by a later extend() is the one used', async () => {
    const first = await signedIn()
    const second = await signedIn()
    const [firstFetch, secondFetch] = [vi.spyOn(first, 'fetch'), vi.spyOn(second, 'fetch')]
    const api = createStepUpKy(first, { prefix: API }).extend({ hooks: stepUpHooks(second) })
    expect((await api.post('transfer', { body: 'x' })).status).toBe(200)
    expect([firstFetch.mock.calls.length, secondFetch.mock.calls.length]).toEqual([0, 1])
  })

  it('plugs into an existing instance with extend(), wrapping once however often it is extended', async () => {
    const stepUp = await signedIn()
    const fetchSpy = vi.spyOn(stepUp, 'fetch')
    const base = ky.create({ prefix: API }).extend({ hooks: stepUpHooks(stepUp) })
    const twice = base.extend({ hooks: stepUpHooks(stepUp) })
    expect((await twice.post('transfer', { body: 'x' })).status).toBe(200)
    expect(fetchSpy).toHaveBeenCalledTimes(1)
  })

  it('rejects a missing client with a TypeError', () => {
    expect(() => stepUpHooks(undefined as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
  })
})
