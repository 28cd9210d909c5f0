// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react'
import { StrictMode, useState, type ReactNode } from 'react'
import { hydrateRoot, type Root } from 'react-dom/client'
import { renderToString } from 'react-dom/server'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, isStepUpError, type StepUp, type StepUpState } from '../../src/index.js'
import { StepUpPrompt, StepUpProvider, useStepUp, useStepUpClient, useStepUpFetch } from '../../src/react/index.js'
import { API } from '../msw/fake-op.js'
import { blockedPopupPage, type BlockedPopupPage } from '../support/blocked-popup.js'

let page: BlockedPopupPage
let stepUp: StepUp
beforeEach(() => {
  page = blockedPopupPage()
  stepUp = page.client()
})
afterEach(cleanup)

const wrapper = ({ children }: { children: ReactNode }) => (
  <StrictMode>
    <StepUpProvider stepUp={stepUp}>{children}</StepUpProvider>
  </StrictMode>
)

/** Sign in through the prompt, the way a user of an app with a blocked popup does. */
async function signInWithPrompt() {
  render(<StepUpPrompt />, { wrapper })
  const login = stepUp.authorize()
  const button = await screen.findByRole('button', { name: 'Continue' })
  page.click(() => fireEvent.click(button))
  await page.finishPopup()
  await act(() => login)
  cleanup()
}

describe('stepup-fetch/react hooks', () => {
  it('throw a TypeError that says what to do outside <StepUpProvider>', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {}) // React logs the render error too
    for (const hook of [useStepUp, useStepUpFetch, useStepUpClient] as Array<() => unknown>) {
      const message = new RegExp(`^${hook.name}\\(\\) must be called inside <StepUpProvider stepUp=\\{stepUp\\}>: wrap your app`)
      expect(() => renderHook(hook)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_STEPUP_NO_PROVIDER', message: expect.stringMatching(message) }))
    }
  })

  it('useStepUpClient() and useStepUpFetch() give the provided client and its fetch, stable across renders', () => {
    const { result, rerender } = renderHook(() => [useStepUpClient(), useStepUpFetch()] as const, { wrapper })
    const first = result.current
    rerender()
    expect(result.current[0]).toBe(stepUp)
    expect(result.current[1]).toBe(stepUp.fetch)
    expect(result.current[1]).toBe(first[1])
  })

  it('useStepUp() re-renders through every status with the token claims, from the same snapshots as getState()', async () => {
    const seen: StepUpState[] = []
    const { result } = renderHook(
      () => {
        const state = useStepUp()
        seen.push(state)
        return state
      },
      { wrapper },
    )
    expect(result.current).toBe(stepUp.getState())
    expect(result.current).toMatchObject({ status: 'idle', authenticated: false })

    let login!: Promise<void>
    act(() => void (login = stepUp.authorize()))
    await waitFor(() => expect(result.current.status).toBe('pending-user-action'))
    expect(result.current).toBe(stepUp.getState())
    act(() => page.click(() => result.current.continue!()))
    expect(result.current.status).toBe('authorizing')
    await act(async () => {
      await page.finishPopup()
      await login
    })
    expect(result.current).toMatchObject({ status: 'idle', authenticated: true, sub: 'alice', acr: 'urn:test:1fa', authTime: expect.any(Number) })
    expect(result.current).toBe(stepUp.getState())
    expect(seen.map((s) => s.status)).toEqual(expect.arrayContaining(['idle', 'pending-user-action', 'authorizing']))

    page.op.setCallback((_url, callback) => {
      const failed = new URL(callback)
      failed.search = `?error=access_denied&state=${callback.searchParams.get('state')}&iss=${encodeURIComponent(callback.searchParams.get('iss')!)}`
      return failed
    })
    let failure!: Promise<unknown>
    act(() => void (failure = stepUp.authorize().catch((e: unknown) => e)))
    await waitFor(() => expect(result.current.status).toBe('pending-user-action'))
    act(() => page.click(() => result.current.continue!()))
    await act(async () => {
      await page.finishPopup()
      await failure
    })
    expect(result.current).toMatchObject({ status: 'error', error: { code: 'authorization_error', opError: 'access_denied' } })
  })

  it('unsubscribes on unmount', async () => {
    const subscribe = vi.spyOn(stepUp, 'subscribe')
    const { unmount } = renderHook(() => useStepUp(), { wrapper: ({ children }) => <StepUpProvider stepUp={stepUp}>{children}</StepUpProvider> })
    const unsubscribe = subscribe.mock.results.at(-1)!.value as () => boolean
    unmount()
    expect(unsubscribe()).toBe(false) // already removed
  })

  it('releases every subscription under StrictMode (double-run effects) on unmount', () => {
    const subscribe = vi.spyOn(stepUp, 'subscribe')
    const { unmount } = renderHook(() => [useStepUp(), useStepUp()], { wrapper })
    expect(subscribe.mock.results.length).toBeGreaterThanOrEqual(2)
    unmount()
    // Each unsubscribe returns whether it still removed a listener: none was left behind.
    expect(subscribe.mock.results.map((r) => (r.value as () => boolean)())).toEqual(subscribe.mock.results.map(() => false))
  })
})

describe('stepup-fetch/react on the server and in hydration', () => {
  const options = { issuer: 'https://op.example', clientId: 'c', redirectUri: 'https://app.example/cb', protect: ['https://api.example'], storage: 'session' as const }
  function Status() {
    const s = useStepUp()
    return <p>{s.authenticated ? `signed in as ${s.sub}` : 'signed out'}</p>
  }
  afterEach(() => sessionStorage.clear())

  it('renderToString renders the signed-out state, the prompt included', () => {
    const html = renderToString(
      <StepUpProvider stepUp={createStepUp(options)}>
        <Status />
        <StepUpPrompt />
      </StepUpProvider>,
    )
    expect(html).toBe('<p>signed out</p>')
  })

  it('hydrates server HTML without a mismatch when the tab’s session storage already holds a token, then shows it', async () => {
    const html = renderToString(
      <StepUpProvider stepUp={createStepUp(options)}>
        <Status />
      </StepUpProvider>,
    )
    // The browser tab holds a token from before the reload.
    const now = Date.now()
    const token = { accessToken: 'at', tokenType: 'Bearer', idToken: 'x', sub: 'alice', acr: 'urn:1', authTime: Math.floor(now / 1000), expiresAt: now + 3_600_000, obtainedAt: now }
    sessionStorage.setItem('stepup-fetch:c:tokens', JSON.stringify([token]))
    const browserClient = createStepUp(options)
    expect(browserClient.getState()).toMatchObject({ authenticated: true, sub: 'alice' })
    const container = document.createElement('div')
    container.innerHTML = html
    document.body.append(container)
    const recoverable: unknown[] = []
    vi.spyOn(console, 'error').mockImplementation(() => {})
    let root: Root | undefined
    await act(async () => {
      root = hydrateRoot(
        container,
        <StepUpProvider stepUp={browserClient}>
          <Status />
        </StepUpProvider>,
        { onRecoverableError: (e) => void recoverable.push(e) },
      )
    })
    expect(recoverable.map(String)).toEqual([])
    expect(container.textContent).toBe('signed in as alice')
    act(() => root!.unmount())
    container.remove()
  })
})

describe('<StepUpPrompt>', () => {
  it('renders nothing until a step-up waits for a click; its Continue button opens the popup from that click', async () => {
    await signInWithPrompt()
    const { container } = render(
      <>
        <Transfer />
        <StepUpPrompt />
      </>,
      { wrapper },
    )
    expect(screen.queryByRole('alertdialog')).toBeNull()
    fireEvent.click(screen.getByRole('button', { name: 'Send' }))
    const dialog = await screen.findByRole('alertdialog', { name: "Verify it's you" })
    expect(dialog.hasAttribute('data-stepup-prompt')).toBe(true)
    expect(page.blocked).toHaveLength(2)
    page.click(() => fireEvent.click(screen.getByRole('button', { name: 'Continue' })))
    expect(page.popups).toHaveLength(2)
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull())
    await act(() => page.finishPopup())
    await screen.findByText('sent: 200')
    expect(container.textContent).toContain('urn:test:2fa')
  })

  it('Cancel rejects the waiting request with aborted and hides the prompt', async () => {
    await signInWithPrompt()
    render(
      <>
        <Transfer />
        <StepUpPrompt title="Confirm with your second factor" cancelLabel="Not now" />
      </>,
      { wrapper },
    )
    fireEvent.click(screen.getByRole('button', { name: 'Send' }))
    await screen.findByRole('alertdialog', { name: 'Confirm with your second factor' })
    fireEvent.click(screen.getByRole('button', { name: 'Not now' }))
    await screen.findByText('failed: aborted')
    expect(screen.queryByRole('alertdialog')).toBeNull()
    expect(page.popups).toHaveLength(1)
  })

  it('renders a custom prompt through children, with the challenge', async () => {
    await signInWithPrompt()
    render(
      <>
        <Transfer />
        <StepUpPrompt>
          {({ continue: verify, challenge }) => (
            <button type="button" onClick={verify}>
              verify {challenge?.acrValues.join(' ')}
            </button>
          )}
        </StepUpPrompt>
      </>,
      { wrapper },
    )
    fireEvent.click(screen.getByRole('button', { name: 'Send' }))
    const custom = await screen.findByRole('button', { name: 'verify urn:test:2fa' })
    page.click(() => fireEvent.click(custom))
    await act(() => page.finishPopup())
    await screen.findByText('sent: 200')
  })
})

function Transfer() {
  const fetch = useStepUpFetch()
  const { acr } = useStepUp()
  const [result, setResult] = useState('')
  const send = () => {
    fetch(`${API}/transfer`, { method: 'POST', body: 'amount=1' }).then(
      (res) => setResult(`sent: ${res.status}`),
      (error: unknown) => setResult(`failed: ${isStepUpError(error) ? error.code : String(error)}`),
    )
  }
  return (
    <div>
      <button type="button" onClick={send}>
        Send
      </button>
      <p>{result}</p>
      <p>acr: {acr}</p>
    </div>
  )
}

