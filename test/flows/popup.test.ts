// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, popup, type InteractionContext } from '../../src/index.js'
import { CLIENT_ID, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'

const REDIRECT_ORIGIN = new URL(REDIRECT_URI).origin

function authorizationUrl(state = 'state-1'): URL {
  const url = new URL(`${ISSUER}/auth`)
  url.searchParams.set('state', state)
  url.searchParams.set('redirect_uri', REDIRECT_URI)
  return url
}

function fakePopup() {
  const win = { closed: false, close: vi.fn(() => void (win.closed = true)) }
  const open = vi.spyOn(window, 'open').mockReturnValue(win as unknown as Window)
  return { win, open }
}

function context(controller = new AbortController()): InteractionContext & { beforeRedirect: ReturnType<typeof vi.fn> } {
  return { signal: controller.signal, beforeRedirect: vi.fn(async () => {}) }
}

function post(data: unknown, origin: string, source: unknown) {
  window.dispatchEvent(new MessageEvent('message', { data, origin, source: source as Window }))
}

const callback = (state = 'state-1') => `${REDIRECT_URI}?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`

afterEach(() => {
  vi.useRealTimers()
})

describe('popup()', () => {
  it('rejects with popup_blocked when window.open is refused, naming the way out', async () => {
    vi.spyOn(window, 'open').mockReturnValue(null)
    const error = await popup()(authorizationUrl(), context()).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'StepUpError', code: 'popup_blocked' })
    expect((error as Error).message).toMatch(/authorize\(\)/)
    expect((error as Error).message).toMatch(/fallback: 'redirect'/)
  })

  it("falls back to a full-page redirect with fallback: 'redirect'", async () => {
    vi.spyOn(window, 'open').mockReturnValue(null)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    const ctx = context()
    void popup({ fallback: 'redirect' })(authorizationUrl(), ctx)
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith(authorizationUrl().href))
    expect(ctx.beforeRedirect).toHaveBeenCalledTimes(1)
  })

  it('opens a named popup and resolves with the callback only from that popup, on the redirect origin', async () => {
    const { win, open } = fakePopup()
    const pending = popup()(authorizationUrl(), context())
    expect(open).toHaveBeenCalledWith(authorizationUrl().href, 'stepup-fetch-popup', expect.stringMatching(/popup=yes,width=500,height=650/))
    post({ type: 'stepup-fetch:callback', url: callback() }, 'https://evil.test', win) // foreign origin
    post({ type: 'stepup-fetch:callback', url: callback() }, REDIRECT_ORIGIN, window) // not our popup
    post({ type: 'other', url: callback() }, REDIRECT_ORIGIN, win) // not our message
    post({ type: 'stepup-fetch:callback', url: callback() }, REDIRECT_ORIGIN, win)
    await expect(pending).resolves.toBe(callback())
    expect(win.close).toHaveBeenCalled()
  })

  it('ignores everything from a foreign origin: the flow keeps waiting', async () => {
    const { win } = fakePopup()
    let settled = false
    const pending = popup()(authorizationUrl(), context())
    pending.then(() => (settled = true), () => (settled = true))
    post({ type: 'stepup-fetch:callback', url: callback() }, 'https://evil.test', win)
    await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBe(false)
    post({ type: 'stepup-fetch:callback', url: callback() }, REDIRECT_ORIGIN, win)
    await expect(pending).resolves.toBe(callback())
  })

  it('rejects state_mismatch when its own popup returns another state', async () => {
    const { win } = fakePopup()
    const pending = popup()(authorizationUrl(), context())
    post({ type: 'stepup-fetch:callback', url: callback('other') }, REDIRECT_ORIGIN, win)
    await expect(pending).rejects.toMatchObject({ code: 'state_mismatch' })
  })

  it('accepts a BroadcastChannel delivery for its own state only (COOP-severed popups)', async () => {
    fakePopup()
    const pending = popup()(authorizationUrl(), context())
    const channel = new BroadcastChannel('stepup-fetch')
    const acks: unknown[] = []
    channel.onmessage = (event) => acks.push(event.data)
    channel.postMessage({ type: 'stepup-fetch:callback', url: callback('another-tab') })
    channel.postMessage({ type: 'stepup-fetch:callback', url: callback() })
    await expect(pending).resolves.toBe(callback())
    await vi.waitFor(() => expect(acks).toContainEqual({ type: 'stepup-fetch:ack', state: 'state-1' }))
    channel.close()
  })

  it('reports popup_closed shortly after the user closes the popup, not before the grace period', async () => {
    vi.useFakeTimers()
    const { win } = fakePopup()
    let error: unknown
    popup()(authorizationUrl(), context()).catch((e: unknown) => (error = e))
    win.closed = true
    await vi.advanceTimersByTimeAsync(400)
    expect(error).toBeUndefined()
    // A COOP page can make `closed` read true for a moment: it must stay closed through the grace period.
    win.closed = false
    await vi.advanceTimersByTimeAsync(400)
    expect(error).toBeUndefined()
    win.closed = true
    await vi.advanceTimersByTimeAsync(1000)
    expect(error).toMatchObject({ code: 'popup_closed' })
  })

  it('times out with code timeout and closes the popup', async () => {
    vi.useFakeTimers()
    const { win } = fakePopup()
    let error: unknown
    popup({ timeout: 5000 })(authorizationUrl(), context()).catch((e: unknown) => (error = e))
    await vi.advanceTimersByTimeAsync(4900)
    expect(error).toBeUndefined()
    await vi.advanceTimersByTimeAsync(200)
    expect(error).toMatchObject({ code: 'timeout' })
    expect(win.close).toHaveBeenCalled()
  })

  it('closes the popup and rejects with the reason when the step-up is cancelled', async () => {
    const { win } = fakePopup()
    const controller = new AbortController()
    const pending = popup()(authorizationUrl(), context(controller))
    const reason = new Error('nobody waits')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    expect(win.close).toHaveBeenCalled()
  })
  it('started with an already-aborted signal: rejects with its reason and closes the popup', async () => {
    const { win } = fakePopup()
    const controller = new AbortController()
    controller.abort(new Error('gone'))
    await expect(popup()(authorizationUrl(), context(controller))).rejects.toThrow('gone')
    expect(win.close).toHaveBeenCalled()
  })
})

describe('handleCallback() in the popup', () => {
  const stepUp = () => createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: ['https://api.test'] })

  it('forwards the callback (errors included) to the opener on our own origin, and closes', async () => {
    const postMessage = vi.fn()
    vi.spyOn(window, 'opener', 'get').mockReturnValue({ postMessage } as unknown as Window)
    const close = vi.spyOn(window, 'close').mockImplementation(() => {})
    const url = `${REDIRECT_URI}?error=access_denied&state=s`
    await expect(stepUp().handleCallback(url)).resolves.toEqual({ mode: 'popup' })
    expect(postMessage).toHaveBeenCalledWith({ type: 'stepup-fetch:callback', url }, window.location.origin)
    expect(close).toHaveBeenCalled()
  })

  it('without an opener, hands off over BroadcastChannel when a pending popup flow acknowledges', async () => {
    fakePopup()
    const close = vi.spyOn(window, 'close').mockImplementation(() => {})
    const opener = popup()(authorizationUrl('coop'), context())
    await expect(stepUp().handleCallback(callback('coop'))).resolves.toEqual({ mode: 'popup' })
    await expect(opener).resolves.toBe(callback('coop'))
    expect(close).toHaveBeenCalled()
  })

  it('without an opener or a pending flow, rejects with state_mismatch', async () => {
    await expect(stepUp().handleCallback(callback('nobody'))).rejects.toMatchObject({ code: 'state_mismatch' })
  })
})
