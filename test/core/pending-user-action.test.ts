// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { isStepUpError, type StepUp } from '../../src/index.js'
import { API } from '../msw/fake-op.js'
import { blockedPopupPage, type BlockedPopupPage } from '../support/blocked-popup.js'

let page: BlockedPopupPage
beforeEach(() => {
  page = blockedPopupPage()
})

const pending = (stepUp: StepUp) => vi.waitFor(() => expect(stepUp.getState().status).toBe('pending-user-action'))

/** Sign in the way an app with a blocked popup does: wait for the prompt, click Continue. */
async function signIn(stepUp: StepUp) {
  const login = stepUp.authorize()
  await pending(stepUp)
  page.click(() => stepUp.getState().continue!())
  await page.finishPopup()
  await login
}

describe("popup({ fallback: 'user-action' }): the 'pending-user-action' state", () => {
  it('waits for continue() from a click, opens the popup inside it, then retries the request', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'amount=1' })
    await pending(stepUp)
    const state = stepUp.getState()
    expect(state).toMatchObject({ status: 'pending-user-action', challenge: { acrValues: ['urn:test:2fa'], maxAge: 300 } })
    expect(page.blocked).toHaveLength(2) // the login's and the transfer's first attempts
    expect(page.popups).toHaveLength(1)

    page.click(() => state.continue!())
    expect(page.popups).toHaveLength(2)
    expect(page.popups[1]!.url.searchParams.get('acr_values')).toBe('urn:test:2fa')
    expect(stepUp.getState()).toMatchObject({ status: 'authorizing' })
    expect(stepUp.getState().continue).toBeUndefined()
    await page.finishPopup()
    const res = await transfer
    expect(res.status).toBe(200)
    expect(stepUp.getState()).toMatchObject({ status: 'idle', acr: 'urn:test:2fa' })
    expect(stepUp.getState()).not.toHaveProperty('continue')
    expect(stepUp.getState()).not.toHaveProperty('cancel')
  })

  it('a user-action chunk that does not load ends the step-up with an error that says so, instead of waiting forever', async () => {
    vi.doMock('../../src/core/user-action.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module')
    })
    try {
      const stepUp = page.client()
      const error: unknown = await stepUp.authorize().catch((e: unknown) => e)
      expect(isStepUpError(error, 'authorization_error')).toBe(true)
      expect((error as Error).message).toMatch(/^the SDK's user-action chunk did not load \(.*\); reload the page$/)
      expect(stepUp.getState()).toMatchObject({ status: 'error', error, authenticated: false })
      expect(stepUp.getState()).not.toHaveProperty('continue')
    } finally {
      vi.doUnmock('../../src/core/user-action.js')
    }
  })

  it('a custom interaction that asks for the user and then gives up ends in its error, never in a stale wait', async () => {
    const stepUp = page.client({
      interaction: async (_url, ctx) => {
        ctx.waitForUser?.(() => true)
        throw new Error('gave up')
      },
    })
    const error: unknown = await stepUp.authorize().catch((e: unknown) => e)
    expect(isStepUpError(error, 'authorization_error')).toBe(true)
    // The part of the SDK that shows the wait loads on demand: give it time to (wrongly) show it.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(stepUp.getState()).toMatchObject({ status: 'error', error })
    expect(stepUp.getState()).not.toHaveProperty('continue')
  })

  it('keeps waiting (and warns) when continue() is called without a user gesture', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const stepUp = page.client()
    void stepUp.authorize()
    await pending(stepUp)
    const before = stepUp.getState()
    before.continue!()
    expect(page.popups).toHaveLength(0)
    expect(stepUp.getState()).toBe(before)
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/\[stepup-fetch\] continue\(\) was called without a user gesture/))
    page.click(() => before.continue!())
    expect(page.popups).toHaveLength(1)
  })

  it('shares one prompt and one popup between concurrent requests', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const both = Promise.all([1, 2].map((n) => stepUp.fetch(`${API}/transfer`, { method: 'POST', body: `amount=${n}` })))
    await pending(stepUp)
    page.click(() => stepUp.getState().continue!())
    await page.finishPopup()
    expect((await both).map((r) => r.status)).toEqual([200, 200])
    expect(page.popups).toHaveLength(2)
  })

  it('cancel() rejects the waiting requests with aborted, does not retry them, and leaves the state idle', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' }).catch((e: unknown) => e)
    await pending(stepUp)
    const { cancel, continue: resume } = stepUp.getState()
    cancel!()
    const error = await transfer
    expect(isStepUpError(error, 'aborted')).toBe(true)
    expect((error as Error).message).toMatch(/waited for the user/)
    expect(page.api.calls.filter((c) => c.path === '/transfer')).toHaveLength(1)
    await vi.waitFor(() => expect(stepUp.getState().status).toBe('idle'))
    expect(stepUp.getState()).not.toHaveProperty('continue')
    // A stale continue() from the old snapshot does nothing.
    page.click(() => resume!())
    expect(page.popups).toHaveLength(1)
  })

  it("an aborted request leaves the prompt: the state returns to idle and continue() goes stale", async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const controller = new AbortController()
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x', signal: controller.signal }).catch((e: unknown) => e)
    await pending(stepUp)
    const stale = stepUp.getState().continue!
    controller.abort()
    expect(await transfer).toBe(controller.signal.reason)
    await vi.waitFor(() => expect(stepUp.getState().status).toBe('idle'))
    page.click(() => stale())
    expect(page.popups).toHaveLength(1)
  })

  it('continue() clicked twice opens one popup', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await pending(stepUp)
    const { continue: go } = stepUp.getState()
    page.click(() => go!())
    page.click(() => go!())
    expect(page.popups).toHaveLength(2) // the sign-in's and this one
    await page.finishPopup()
    expect((await transfer).status).toBe(200)
  })

  it('authorize() with the challenge, from a click while the step-up waits ("Verify it\'s you"), opens its popup and both complete', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await pending(stepUp)
    const challenge = stepUp.getState().challenge!
    const verified = page.click(() => stepUp.authorize({ acrValues: challenge.acrValues, maxAge: challenge.maxAge! }))
    expect(page.popups).toHaveLength(2)
    expect(page.popups[1]!.url.searchParams.get('acr_values')).toBe('urn:test:2fa')
    expect(stepUp.getState().status).toBe('authorizing')
    await page.finishPopup()
    await verified
    expect((await transfer).status).toBe(200)
    expect(page.popups).toHaveLength(2)
  })

  it('a plain sign-in click (authorize()) while a step-up waits continues that step-up instead of queueing behind it', async () => {
    const stepUp = page.client()
    await signIn(stepUp)
    const transfer = stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await pending(stepUp)
    const signedIn = page.click(() => stepUp.authorize())
    expect({ popups: page.popups.length, status: stepUp.getState().status }).toEqual({ popups: 2, status: 'authorizing' })
    await page.finishPopup()
    await signedIn
    expect((await transfer).status).toBe(200)
    expect(page.popups).toHaveLength(2)
  })

  it('without the option a blocked popup is still popup_blocked (unchanged default)', async () => {
    const { popup } = await import('../../src/index.js')
    const stepUp = page.client({ interaction: popup() })
    await expect(stepUp.authorize()).rejects.toMatchObject({ code: 'popup_blocked' })
    expect(stepUp.getState().status).toBe('error')
  })
})

describe('getState() snapshots', () => {
  it('are the same object until something changes, and a no-op update notifies nobody', async () => {
    const stepUp = page.client()
    const listener = vi.fn()
    stepUp.subscribe(listener)
    const first = stepUp.getState()
    stepUp.logout() // nothing to forget: the state is already signed out and idle
    expect(stepUp.getState()).toBe(first)
    expect(listener).not.toHaveBeenCalled()
    void stepUp.authorize()
    await pending(stepUp)
    const waiting = stepUp.getState()
    expect(stepUp.getState()).toBe(waiting)
    expect(listener.mock.calls.length).toBeGreaterThan(0)
  })
})
