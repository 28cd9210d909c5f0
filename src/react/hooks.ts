import { useContext, useSyncExternalStore } from 'react'
import type { StepUp, StepUpState } from '../index.js'
import { StepUpContext } from './context.js'

/**
 * The client from the nearest {@link StepUpProvider}, for `authorize()`, `logout()` and friends.
 *
 * @returns The {@link StepUp} client.
 * @throws {TypeError} With `code` `'ERR_STEPUP_NO_PROVIDER'` outside a `<StepUpProvider>`.
 * @example
 * ```tsx
 * function SignIn() {
 *   const stepUp = useStepUpClient()
 *   return <button onClick={() => stepUp.authorize()}>Sign in</button>
 * }
 * ```
 */
export function useStepUpClient(): StepUp {
  return useClient('useStepUpClient')
}

/**
 * The SDK's state, re-rendering the component when it changes (through `useSyncExternalStore`,
 * so it is tear-free under concurrent rendering): `status` (`'idle'`, `'authorizing'`,
 * `'pending-user-action'` with `continue()` / `cancel()`, `'error'` with `error`), and the newest
 * token's `acr`, `amr`, `authTime` and `sub`. Server rendering and hydration see a signed-out,
 * idle state (the server holds no user's tokens); the component re-renders with the client's
 * state right after hydration.
 *
 * @returns The current {@link StepUpState} snapshot (the same object until something changes).
 * @throws {TypeError} With `code` `'ERR_STEPUP_NO_PROVIDER'` outside a `<StepUpProvider>`.
 * @example
 * ```tsx
 * function Assurance() {
 *   const { status, acr, authTime } = useStepUp()
 *   if (status === 'authorizing') return <p>Verifying…</p>
 *   return <p>Signed in at {acr ?? 'no level'} {authTime && new Date(authTime * 1000).toLocaleTimeString()}</p>
 * }
 * ```
 */
export function useStepUp(): StepUpState {
  const stepUp = useClient('useStepUp')
  // getState() returns the same object until something changes, as useSyncExternalStore requires.
  return useSyncExternalStore(stepUp.subscribe, stepUp.getState, getServerSnapshot)
}

/**
 * What the server renders, and what hydration compares against: signed out and idle, whatever
 * the browser's client holds. A client restored from `storage: 'session'` would otherwise render
 * "signed in" during hydration and mismatch the server's HTML; React renders the client's real
 * state right after hydrating.
 */
const serverSnapshot: StepUpState = Object.freeze({ status: 'idle', authenticated: false })
const getServerSnapshot = (): StepUpState => serverSnapshot

/**
 * The client's drop-in `fetch` (stable across renders): tokens only for protected URLs, one
 * verified step-up and one retry on an RFC 9470 challenge.
 *
 * @returns `stepUp.fetch`; it rejects with a `StepUpError` when the step-up fails.
 * @throws {TypeError} With `code` `'ERR_STEPUP_NO_PROVIDER'` outside a `<StepUpProvider>`.
 * @example
 * ```tsx
 * function Transfer() {
 *   const fetch = useStepUpFetch()
 *   const send = () => fetch('https://api.example.com/transfer', { method: 'POST', body: JSON.stringify({ amount: 10 }) })
 *   return <button onClick={send}>Send</button>
 * }
 * ```
 */
export function useStepUpFetch(): typeof fetch {
  return useClient('useStepUpFetch').fetch
}

function useClient(hook: string): StepUp {
  const stepUp = useContext(StepUpContext)
  if (!stepUp) {
    throw Object.assign(
      new TypeError(`${hook}() must be called inside <StepUpProvider stepUp={stepUp}>: wrap your app (or this component) in it, passing the client from createStepUp()`),
      { code: 'ERR_STEPUP_NO_PROVIDER' },
    )
  }
  return stepUp
}
