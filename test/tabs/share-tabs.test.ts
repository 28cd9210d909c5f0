import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, isStepUpError, type Interaction, type StepUpOptions } from '../../src/index.js'
import { deferred } from '../deferred.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'
import { stubSessionStorage } from '../support/session-storage.js'

// Tabs sharing a step-up (docs/decisions/0005-tabs.md), logic only: several clients in one Node
// process stand for tabs (Node's BroadcastChannel delivers between them), with an in-memory Web
// Locks stand-in. Real Chromium with two pages: test/browser/tabs.test.ts.
const fakes = useFakeServers()
let op: FakeOp
let api: FakeApi
/** Channels of this test only: clients of earlier tests never close theirs. */
let scope = 0
/** Every BroadcastChannel the SDK created in this test, and everything posted on them. */
let created: string[]
let posted: unknown[]
let locks: ReturnType<typeof fakeLocks>
const RealChannel = globalThis.BroadcastChannel
const CHANNEL = `stepup-fetch:tabs:${ISSUER}/ ${CLIENT_ID}`

beforeEach(() => {
  ;({ op, api } = fakes)
  scope++
  created = []
  posted = []
  const prefix = `test-${scope}:`
  vi.stubGlobal(
    'BroadcastChannel',
    class extends RealChannel {
      constructor(name: string) {
        super(prefix + name)
        created.push(name)
      }
      override postMessage(message: unknown): void {
        posted.push(message)
        super.postMessage(message)
      }
    },
  )
  locks = fakeLocks()
  vi.stubGlobal('navigator', { locks: locks.manager })
  // A browser window: sharing is on only where there is a document (never on a server).
  vi.stubGlobal('document', {})
})
afterEach(() => vi.unstubAllGlobals())

/** Another tab's raw end of this client's channel (what a page script could post or hear). */
function otherTab(): { channel: BroadcastChannel; heard: unknown[] } {
  const channel = new RealChannel(`test-${scope}:${CHANNEL}`)
  ;(channel as { unref?: () => void }).unref?.()
  const heard: unknown[] = []
  channel.onmessage = (event: MessageEvent) => heard.push(event.data)
  return { channel, heard }
}

function tab(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, shareAcrossTabs: true, ...overrides })
}

async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  const end = Date.now() + 3000
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const transfer = { method: 'POST', body: '{"amount":5}', headers: { 'content-type': 'application/json' } }
/** Step-up authorizations that reached the OP, and those started (opened) in any tab. */
const stepUps = () => op.authorizations.filter((url) => url.searchParams.get('acr_values') === 'urn:test:2fa')
let opened: URL[] = []
beforeEach(() => (opened = []))

/** An interaction whose step-ups wait for `gate` (the user still typing in the popup). */
function gated(gate: Promise<void>): Interaction {
  return async (url, ctx) => {
    if (url.searchParams.get('acr_values')) {
      opened.push(url)
      await gate
    }
    return op.interaction(url, ctx)
  }
}

describe('shareAcrossTabs off (the default)', () => {
  it('creates no channel, posts nothing and requests no lock, through sign-in, step-up, refresh and logout', async () => {
    const listener = otherTab()
    op.setTokens({ refreshTokens: true, expiresIn: 1 })
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/transfer`, transfer)).status).toBe(200)
    await pause(1100)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.refreshRequests.length).toBeGreaterThan(0)
    stepUp.logout()
    await pause(50)
    expect(created).toEqual([])
    expect(posted).toEqual([])
    expect(locks.requests).toBe(0)
    expect(listener.heard).toEqual([])
    listener.channel.close()
  })

  it('a token another tab posts is not taken', async () => {
    const other = otherTab()
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    const sharing = tab()
    await sharing.authorize()
    await pause(50)
    expect(stepUp.getState().authenticated).toBe(false)
    other.channel.close()
  })

  it('rejects a non-boolean', () => {
    expect(() => tab({ shareAcrossTabs: 'yes' as never })).toThrow(/"shareAcrossTabs" must be a boolean/)
  })
})

describe('shareAcrossTabs: true', () => {
  it('one channel named from issuer and client id; a sign-in in one tab signs in the other and notifies its subscribers', async () => {
    const a = tab()
    const b = tab()
    const notified = vi.fn()
    b.subscribe(notified)
    await a.authorize()
    await until(() => b.getState().authenticated, 'b signed in')
    expect(b.getState()).toMatchObject({ authenticated: true, sub: 'alice', acr: 'urn:test:1fa' })
    expect(notified).toHaveBeenCalled()
    expect(new Set(created)).toEqual(new Set([CHANNEL]))
    // b's request carries a's token without any flow of its own.
    expect((await b.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.authorizations).toHaveLength(1)
  })

  it('a DPoP-bound token is taken only by a tab holding the same key; a Bearer tab never takes one', async () => {
    // Node has no IndexedDB: each DPoP tab has a key of its own, as tabs do where IndexedDB fails.
    const issued = new Map<string, string[]>([['a', []], ['b', []]])
    const sent: string[] = []
    const asDpop = (who: string) => async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init)
      if (request.url.startsWith(API)) sent.push(request.headers.get('authorization') ?? '')
      const response = await fetch(request)
      if (request.url !== `${ISSUER}/token` || !response.ok) return response
      const body = (await response.json()) as { access_token: string }
      issued.get(who)!.push(body.access_token)
      return Response.json({ ...body, token_type: 'DPoP' })
    }
    const a = tab({ dpop: true, fetch: asDpop('a') })
    const b = tab({ dpop: true, fetch: asDpop('b') })
    const plain = tab()
    await b.authorize() // b's key is open: a's tokens, bound to another key, are of no use to it
    await pause(1100) // a later auth_time, so that a's token would win if b took it
    await a.authorize()
    await until(() => posted.length >= 2, 'a posted its token')
    await pause(50)
    await b.fetch(`${API}/balance`)
    expect(sent).toEqual([`DPoP ${issued.get('b')![0]}`])
    expect(plain.getState().authenticated).toBe(false)
  })

  it('a tab opened later gets the open tabs\' valid tokens (hello), and no expired one', async () => {
    op.setTokens({ expiresIn: 300 })
    const a = tab()
    await a.authorize()
    const later = tab()
    await until(() => later.getState().authenticated, 'hello answered')
    expect(later.getState()).toMatchObject({ sub: 'alice' })
    expect((await later.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.authorizations).toHaveLength(1)
    // Only valid tokens are handed out.
    const other = otherTab()
    other.channel.postMessage({ v: 1, type: 'hello' })
    await until(() => other.heard.length > 0, 'answer')
    const answer = other.heard[0] as { type: string; tokens: Array<{ expiresAt: number }> }
    expect(answer.type).toBe('tokens')
    expect(answer.tokens.every((t) => t.expiresAt > Date.now())).toBe(true)
    other.channel.close()
  })

  it('tab B, waiting on the same challenge while tab A\'s step-up runs, retries with A\'s token: one authorization, one lock holder, no lock request left', async () => {
    const gate = deferred()
    const a = tab({ interaction: gated(gate.promise) })
    const b = tab({ interaction: gated(new Promise(() => {})) }) // b's own popup would never finish
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer)
    await until(() => opened.length === 1, 'a\'s step-up started')
    const second = b.fetch(`${API}/transfer`, transfer)
    await until(() => locks.waiting() === 1, 'b waits for the lock')
    expect(b.getState().status).toBe('authorizing')
    gate.resolve()
    expect((await first).status).toBe(200)
    expect((await second).status).toBe(200)
    expect(stepUps()).toHaveLength(1)
    expect(locks.waiting()).toBe(0)
    // b's one retry carried a's elevated token.
    const bearer = api.calls.filter((c) => c.path === '/transfer').map((c) => c.authorization)
    expect(bearer.at(-1)).toBe(bearer.at(-2))
    await until(() => b.getState().status === 'idle')
    expect(b.getState()).toMatchObject({ acr: 'urn:test:2fa' })
  })

  it('two tabs hit the challenge at once: one flow between them (Web Locks), both succeed', async () => {
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const [ra, rb] = await Promise.all([a.fetch(`${API}/transfer`, transfer), b.fetch(`${API}/transfer`, transfer)])
    expect([ra.status, rb.status]).toEqual([200, 200])
    expect(stepUps()).toHaveLength(1)
  })

  it('when the other tab\'s flow fails, the waiting tab runs its own once it gets the lock', async () => {
    const failing: Interaction = async (url, ctx) => {
      if (!url.searchParams.get('acr_values')) return op.interaction(url, ctx)
      opened.push(url)
      await pause(50)
      throw new Error('the user closed the popup')
    }
    const a = tab({ interaction: failing })
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const [ra, rb] = await Promise.allSettled([a.fetch(`${API}/transfer`, transfer), pause(20).then(() => b.fetch(`${API}/transfer`, transfer))])
    expect(ra.status).toBe('rejected')
    expect(rb).toMatchObject({ status: 'fulfilled', value: { status: 200 } })
    expect(opened).toHaveLength(1) // a's, which failed
    expect(stepUps()).toHaveLength(1) // b's own
  })

  it('an aborted request leaves no lock request pending and is not retried', async () => {
    const gate = deferred()
    const a = tab({ interaction: gated(gate.promise) })
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer)
    await until(() => opened.length === 1)
    const controller = new AbortController()
    const second = b.fetch(`${API}/transfer`, { ...transfer, signal: controller.signal })
    await until(() => locks.waiting() === 1)
    controller.abort()
    await expect(second).rejects.toMatchObject({ name: 'AbortError' })
    expect(locks.waiting()).toBe(0)
    gate.resolve()
    expect((await first).status).toBe(200)
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(3) // a: 401, 200; b: 401 only
  })

  it('a token from another tab used for the retry is that request\'s one retry: challenged again, loop_detected', async () => {
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    // /always challenges every request; a's step-up gives b a token that meets the challenge.
    const gate = deferred()
    const slow = tab({ interaction: gated(gate.promise) })
    await until(() => slow.getState().authenticated)
    const first = slow.fetch(`${API}/always`).catch((e: unknown) => e)
    await until(() => opened.length === 1)
    const second = b.fetch(`${API}/always`).catch((e: unknown) => e)
    await until(() => locks.waiting() === 1)
    gate.resolve()
    expect(isStepUpError(await first, 'loop_detected')).toBe(true)
    expect(isStepUpError(await second, 'loop_detected')).toBe(true)
    expect(stepUps()).toHaveLength(1)
  })

  it('authorize() (a click) does not wait for another tab\'s lock', async () => {
    const a = tab()
    let release!: () => void
    void locks.manager.request('stepup-fetch:flow:' + `${ISSUER}/ ${CLIENT_ID}`, {}, () => new Promise<void>((resolve) => (release = resolve)))
    await a.authorize({ acrValues: ['urn:test:2fa'] })
    expect(stepUps()).toHaveLength(1)
    release()
  })

  it('a refresh with rotation in one tab replaces the spent refresh token in the others', async () => {
    op.setTokens({ refreshTokens: true, expiresIn: 1 })
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    await pause(1100)
    expect((await a.fetch(`${API}/balance`)).status).toBe(200) // a refreshes: rt-1 is spent
    expect(op.refreshRequests).toHaveLength(1)
    await pause(50)
    expect((await b.fetch(`${API}/balance`)).status).toBe(200) // b sends a's refreshed token
    expect(op.refreshRequests).toHaveLength(1)
    await pause(1100)
    expect((await b.fetch(`${API}/balance`)).status).toBe(200) // b refreshes with the rotated one
    expect(op.refreshRequests).toHaveLength(2)
    expect(b.getState()).toMatchObject({ authenticated: true })
    expect(b.getState().expired).toBeUndefined()
  })

  it('logout() in one tab signs out every tab; the other tabs do not echo it', async () => {
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const other = otherTab()
    a.logout()
    await until(() => !b.getState().authenticated, 'b signed out')
    await pause(50)
    expect(other.heard.filter((m) => (m as { type: string }).type === 'logout')).toHaveLength(1)
    other.channel.close()
  })

  it('a sign-in as another user switches users; another user\'s step-up or hello answer is not taken', async () => {
    const b = tab()
    const a = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const other = otherTab()
    const base = { tokenType: 'Bearer', idToken: '', obtainedAt: Date.now(), expiresAt: Date.now() + 60_000 }
    other.channel.postMessage({ v: 1, type: 'token', token: { ...base, accessToken: 'mallory-2fa', sub: 'bob', acr: 'urn:test:2fa', requirement: { acrValues: ['urn:test:2fa'] } } })
    other.channel.postMessage({ v: 1, type: 'tokens', tokens: [{ ...base, accessToken: 'bob-login', sub: 'bob' }] })
    await pause(50)
    expect(b.getState()).toMatchObject({ sub: 'alice', acr: 'urn:test:1fa' })
    other.channel.postMessage({ v: 1, type: 'token', token: { ...base, accessToken: 'bob-login', sub: 'bob', acr: 'urn:test:1fa' } })
    await until(() => b.getState().sub === 'bob', 'user switch')
    await b.fetch(`${API}/balance`)
    expect(api.calls.at(-1)!.authorization).toBe('Bearer bob-login')
    other.channel.close()
  })

  it('ignores malformed messages without throwing, and still takes a valid one after them', async () => {
    const b = tab()
    await pause(150)
    const other = otherTab()
    const errors = vi.spyOn(console, 'error')
    for (const junk of [null, 'x', 42, [], { v: 1 }, { v: 1, type: 'token', token: { accessToken: 1 } }, { v: 1, type: 'tokens', tokens: 'all' }, { v: 2, type: 'logout' }, { type: 'token', token: {} }]) other.channel.postMessage(junk)
    await pause(50)
    expect(b.getState().authenticated).toBe(false)
    other.channel.postMessage({ v: 1, type: 'token', token: { accessToken: 'ok', tokenType: 'Bearer', idToken: '', sub: 'alice', obtainedAt: Date.now() } })
    await until(() => b.getState().authenticated)
    expect(errors).not.toHaveBeenCalled()
    other.channel.close()
  })

  it('logout() reaches a challenge flow that a click\'s authorize() displaced while it waited for the lock', async () => {
    const aGate = deferred()
    const aOpened: URL[] = []
    const bOpened: URL[] = []
    const held = (list: URL[], gate: Promise<void>): Interaction => async (url, ctx) => {
      if (url.searchParams.get('acr_values')) {
        list.push(url)
        await Promise.race([gate, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))])
      }
      return op.interaction(url, ctx)
    }
    const a = tab({ interaction: held(aOpened, aGate.promise) })
    const b = tab({ interaction: held(bOpened, new Promise(() => {})) })
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer).catch((e: unknown) => e)
    await until(() => aOpened.length === 1, 'a\'s step-up open')
    // b's challenge parks behind a's lock; then the user clicks "Verify it's you" in b.
    const second = b.fetch(`${API}/transfer`, transfer).then((r) => r.status, (e: unknown) => (isStepUpError(e) ? e.code : e))
    await pause(300)
    const click = b.authorize({ acrValues: ['urn:test:2fa'], maxAge: 300 }).catch((e: unknown) => (isStepUpError(e) ? e.code : e))
    await until(() => bOpened.length === 1, 'b\'s click popup')
    b.logout()
    expect(await click).toBe('aborted')
    expect(await second).toBe('aborted')
    aGate.resolve()
    await first
    await pause(300)
    expect(bOpened).toHaveLength(1) // nothing prompts after the sign-out
    expect(b.getState()).toMatchObject({ status: 'idle', authenticated: false })
  })

  it('without Web Locks: tokens are still shared, and each tab runs its own flow', async () => {
    vi.stubGlobal('navigator', {})
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const [ra, rb] = await Promise.all([a.fetch(`${API}/transfer`, transfer), b.fetch(`${API}/transfer`, transfer)])
    expect([ra.status, rb.status]).toEqual([200, 200])
    expect(stepUps()).toHaveLength(2)
  })
})

const LOCK = `stepup-fetch:flow:${ISSUER}/ ${CLIENT_ID}`
/** Resolves with `what` unless `promise` settles within `ms`. */
const within = <T,>(promise: Promise<T>, ms: number, what = 'stuck'): Promise<T | string> => Promise.race([promise, pause(ms).then(() => what)])
/** An interaction whose popups for step-ups are blocked and wait for a click that never comes. */
const blockedPopup = (shown: URL[] = []): Interaction => async (url, ctx) => {
  if (!url.searchParams.get('acr_values')) return op.interaction(url, ctx)
  shown.push(url)
  ctx.waitForUser!(() => false)
  return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
}

describe('shareAcrossTabs: waiting for a click, clicks, redirects', () => {
  it('a tab waiting for a click (pending-user-action) lets go of the lock: another tab runs its own flow, and the waiting tab then takes its token', async () => {
    const a = tab({ interaction: blockedPopup() })
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer)
    await until(() => a.getState().status === 'pending-user-action', 'a waits for a click')
    // Without the fix, b waits for a's lock for as long as nobody clicks in a.
    expect(await within(b.fetch(`${API}/transfer`, transfer).then((r) => r.status), 2000)).toBe(200)
    expect(stepUps()).toHaveLength(1) // b's
    // a's step-up ends with b's token: its request retries with it, and its prompt goes away.
    expect(await within(first.then((r) => r.status), 2000)).toBe(200)
    await until(() => a.getState().status === 'idle', 'a idle')
    expect(a.getState()).toMatchObject({ acr: 'urn:test:2fa' })
    expect(a.getState().continue).toBeUndefined()
    expect(locks.waiting()).toBe(0)
  })

  it('authorize() from a click in a tab whose challenge waits for another tab\'s lock runs at once, and the waiting request takes its token', async () => {
    const gate = deferred()
    const a = tab({ interaction: gated(gate.promise) })
    const bOpened: URL[] = []
    const b = tab({ interaction: async (url, ctx) => (url.searchParams.get('acr_values') && bOpened.push(url), op.interaction(url, ctx)) })
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer)
    await until(() => opened.length === 1, 'a\'s step-up started')
    const second = b.fetch(`${API}/transfer`, transfer)
    await until(() => locks.waiting() === 1, 'b waits for the lock')
    // The user clicks "Verify" in b: its popup must open now, not after a's step-up.
    expect(await within(b.authorize({ acrValues: ['urn:test:2fa'] }).then(() => 'done'), 1000)).toBe('done')
    expect(bOpened).toHaveLength(1)
    expect((await second).status).toBe(200) // the waiting request took the click's token
    expect(locks.waiting()).toBe(0) // and withdrew its lock request
    gate.resolve()
    expect((await first).status).toBe(200)
    expect(stepUps()).toHaveLength(2)
  })

  it('a click for something else runs at once too; the waiting request then waits on for the other tab\'s token', async () => {
    const gate = deferred()
    const a = tab({ interaction: gated(gate.promise) })
    const b = tab({ interaction: async (url, ctx) => (url.searchParams.get('acr_values') && opened.push(url), op.interaction(url, ctx)) })
    await a.authorize()
    await until(() => b.getState().authenticated)
    const first = a.fetch(`${API}/transfer`, transfer)
    await until(() => opened.length === 1)
    const second = b.fetch(`${API}/transfer`, transfer)
    await until(() => locks.waiting() === 1)
    expect(await within(b.authorize().then(() => 'done'), 1000)).toBe('done') // a plain sign-in click
    await until(() => locks.waiting() === 1, 'b queued for the lock again')
    gate.resolve()
    expect((await first).status).toBe(200)
    expect((await second).status).toBe(200)
    expect(stepUps()).toHaveLength(1) // a's only: b took its token
    expect(opened).toHaveLength(1)
  })

  it('redirect: a tab leaving for the OP tells the others, which wait for its token instead of running their own flow when its page (and lock) goes', async () => {
    const leaving: Interaction = async (url, ctx) => {
      if (!url.searchParams.get('acr_values')) return op.interaction(url, ctx)
      opened.push(url)
      await ctx.beforeRedirect()
      throw new Error('navigated away') // the page unloads: its lock is released
    }
    const a = tab({ interaction: leaving })
    const b = tab({ interaction: gated(new Promise(() => {})) }) // b's own step-up would show in `opened`
    await a.authorize()
    await until(() => b.getState().authenticated)
    void a.fetch(`${API}/transfer`, transfer).catch(() => {})
    await until(() => opened.length === 1, 'a left for the OP')
    const second = b.fetch(`${API}/transfer`, transfer)
    await pause(300)
    expect(opened).toHaveLength(1)
    // a's tab comes back on the callback page, which redeems the code and shares the token.
    const callbackPage = tab()
    await callbackPage.authorize({ acrValues: ['urn:test:2fa'] })
    expect((await within(second, 2000)) as Response).toMatchObject({ status: 200 })
    expect(opened).toHaveLength(1)
    expect(stepUps()).toHaveLength(1)
  })

  it('redirect: when the redirect-mode chunk does not load, the tab stays, and the other tabs are told to stop waiting for it', async () => {
    vi.doMock('../../src/core/redirect-mode.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module')
    })
    try {
      const leaving: Interaction = async (_url, ctx) => {
        await ctx.beforeRedirect()
        throw new Error('navigated away')
      }
      const a = tab({ interaction: leaving })
      await expect(a.authorize()).rejects.toMatchObject({ name: 'StepUpError', code: 'authorization_error', message: expect.stringMatching(/redirect-mode chunk did not load/) })
      await pause(20)
      const busy = posted.filter((m) => (m as { type?: unknown }).type === 'busy') as Array<{ until: number }>
      expect(busy.at(-1)).toMatchObject({ until: 0 })
    } finally {
      vi.doUnmock('../../src/core/redirect-mode.js')
    }
  })

  it('a "busy" notice ended with until 0 (the callback failed) lets the waiting tabs run their own flow', async () => {
    const b = tab()
    await b.authorize()
    const other = otherTab()
    other.channel.postMessage({ v: 1, type: 'busy', until: Date.now() + 10 * 60_000 })
    await pause(20)
    const second = b.fetch(`${API}/transfer`, transfer)
    await pause(300)
    expect(stepUps()).toHaveLength(0)
    other.channel.postMessage({ v: 1, type: 'busy', until: 0 })
    expect((await within(second, 2000)) as Response).toMatchObject({ status: 200 })
    expect(stepUps()).toHaveLength(1)
    other.channel.close()
  })
})

describe('shareAcrossTabs: refresh, sign-out and adoption rules', () => {
  it('storage session: a tab reloaded with a refresh token another tab has spent takes the successor from the hello answer, and spends nothing twice', async () => {
    const saved = stubSessionStorage()
    const key = `stepup-fetch:${CLIENT_ID}:tokens`
    op.setTokens({ refreshTokens: true, expiresIn: 1 })
    const a = tab({ storage: 'session' })
    await a.authorize()
    const snapshot = saved.get(key)! // what b's sessionStorage held when b navigated away: rt-1
    await pause(1100)
    expect((await a.fetch(`${API}/balance`)).status).toBe(200) // a rotates rt-1
    expect(op.refreshRequests).toHaveLength(1)
    saved.clear()
    saved.set(key, snapshot)
    const b = tab({ storage: 'session' }) // b comes back (Back, a discarded tab reloaded)
    expect((await b.fetch(`${API}/balance`)).status).toBe(200)
    const spent = op.refreshRequests.map((body) => body.get('refresh_token'))
    expect(new Set(spent).size).toBe(spent.length)
    expect(b.getState()).toMatchObject({ authenticated: true })
    expect(b.getState().expired).toBeUndefined()
  })

  it('two tabs refreshing the same token at once spend its refresh token once (a Web Lock per token)', async () => {
    op.setTokens({ refreshTokens: true, expiresIn: 1 })
    const a = tab()
    const b = tab()
    await a.authorize()
    await until(() => b.getState().authenticated)
    await pause(1100)
    const [ra, rb] = await Promise.all([a.fetch(`${API}/balance`), b.fetch(`${API}/balance`)])
    expect([ra.status, rb.status]).toEqual([200, 200])
    expect(op.refreshRequests).toHaveLength(1)
    expect([a.getState().expired, b.getState().expired]).toEqual([undefined, undefined])
  })

  it('a token another tab brings for a waiting request is refreshed before the retry when its access token has expired', async () => {
    op.setTokens({ refreshTokens: true, expiresIn: 1 })
    // A client without sharing obtains a real elevated token + refresh token to forge the message with.
    let issued!: { access_token: string; refresh_token: string }
    const capture = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const response = await fetch(input, init)
      if (String(input instanceof Request ? input.url : input) === `${ISSUER}/token`) issued = await response.clone().json()
      return response
    }
    const d = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, fetch: capture })
    await d.authorize({ acrValues: ['urn:test:2fa'] })
    const b = tab()
    await b.authorize()
    await pause(1100) // d's access token has expired
    let release!: () => void
    void locks.manager.request(LOCK, {}, () => new Promise<void>((resolve) => (release = resolve)))
    const second = b.fetch(`${API}/transfer`, transfer)
    await until(() => locks.waiting() === 1, 'b waits for the lock')
    const other = otherTab()
    other.channel.postMessage({
      v: 1, type: 'token',
      token: { accessToken: issued.access_token, refreshToken: issued.refresh_token, tokenType: 'Bearer', idToken: '', sub: 'alice', acr: 'urn:test:2fa',
        authTime: Math.floor(Date.now() / 1000) - 2, requirement: { acrValues: ['urn:test:2fa'], maxAge: 300 }, obtainedAt: Date.now() - 1200, expiresAt: Date.now() - 100 },
    })
    expect((await second).status).toBe(200)
    expect(api.calls.at(-1)!.authorization).not.toBe(`Bearer ${issued.access_token}`)
    release()
    other.channel.close()
  })

  it('a token obtained before this tab signed out, or within a second after (sent before the other tab heard it), does not sign it in again; a later one does', async () => {
    const a = tab()
    await a.authorize()
    await pause(150)
    const other = otherTab()
    const token = { accessToken: 'late', tokenType: 'Bearer', idToken: '', sub: 'alice', expiresAt: Date.now() + 60_000 }
    const before = Date.now() - 5
    a.logout()
    other.channel.postMessage({ v: 1, type: 'token', token: { ...token, obtainedAt: before } })
    await pause(100)
    expect(a.getState().authenticated).toBe(false)
    // Obtained just after the sign-out, by a flow the logout message had not reached yet: a leftover too.
    other.channel.postMessage({ v: 1, type: 'token', token: { ...token, accessToken: 'raced', obtainedAt: Date.now() } })
    await pause(100)
    expect(a.getState().authenticated).toBe(false)
    // A sign-in takes the user longer than the 1 s grace: its token is taken.
    await pause(1000)
    other.channel.postMessage({ v: 1, type: 'token', token: { ...token, accessToken: 'new-sign-in', obtainedAt: Date.now() } })
    await until(() => a.getState().authenticated, 'a sign-in after the sign-out')
    other.channel.close()
  })

  it('a dead token (expired, no refresh token) does not keep out a live one with an older auth_time', async () => {
    const b = tab()
    await pause(150)
    const other = otherTab()
    const now = Date.now()
    const base = { tokenType: 'Bearer', idToken: '', sub: 'alice', obtainedAt: now }
    other.channel.postMessage({ v: 1, type: 'token', token: { ...base, accessToken: 'dying', expiresAt: now + 100, authTime: Math.floor(now / 1000) } })
    await until(() => b.getState().authenticated)
    await pause(200)
    other.channel.postMessage({ v: 1, type: 'token', token: { ...base, accessToken: 'live', expiresAt: Date.now() + 60_000, authTime: Math.floor(now / 1000) - 60 } })
    await pause(50)
    await b.fetch(`${API}/balance`)
    expect(api.calls.at(-1)!.authorization).toBe('Bearer live')
    other.channel.close()
  })

  it('no document (a server rendering for many users, where Node has BroadcastChannel): no channel, no lock, nothing shared', async () => {
    vi.stubGlobal('document', undefined)
    const a = tab()
    const b = tab()
    await a.authorize()
    await pause(150)
    expect(created).toEqual([])
    expect(locks.requests).toBe(0)
    expect(b.getState().authenticated).toBe(false)
  })
})

/** An in-memory stand-in for navigator.locks: exclusive locks, `signal` and `ifAvailable`. */
function fakeLocks() {
  const held = new Set<string>()
  const queue: Array<{ name: string; grant: () => void }> = []
  let requests = 0
  const next = (name: string): void => {
    const index = queue.findIndex((entry) => entry.name === name)
    if (index >= 0) queue.splice(index, 1)[0]!.grant()
  }
  const request = (name: string, options: LockOptions, callback: (lock: Lock | null) => unknown): Promise<unknown> => {
    requests++
    return new Promise((resolve, reject) => {
      const run = (): void => {
        held.add(name)
        Promise.resolve()
          .then(() => callback({ name, mode: 'exclusive' }))
          .then(resolve, reject)
          .finally(() => {
            held.delete(name)
            next(name)
          })
      }
      if (options.signal?.aborted) return reject(new DOMException('aborted', 'AbortError'))
      if (!held.has(name)) return run()
      if (options.ifAvailable) return void Promise.resolve().then(() => callback(null)).then(resolve, reject)
      const entry = { name, grant: run }
      queue.push(entry)
      options.signal?.addEventListener('abort', () => {
        const index = queue.indexOf(entry)
        if (index < 0) return
        queue.splice(index, 1)
        reject(new DOMException('aborted', 'AbortError'))
      })
    })
  }
  return {
    manager: { request } as unknown as LockManager,
    get requests() {
      return requests
    },
    waiting: () => queue.length,
  }
}
