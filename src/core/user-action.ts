// A step-up that waits for a click (popup({ fallback: 'user-action' }) after a blocked popup),
// loaded with import() only when a popup was blocked.
import type { StepUpError } from '../errors/step-up-error.js'
import type { Tabs } from '../tabs/share-tabs.js'
import type { StatePatch, StepUpState } from './create-step-up.js'
import type { Flow } from './single-flight.js'
import type { TokenRecord } from './tokens.js'

/**
 * What the client lends: its state, the flow that waits, the other tabs and its error class. A
 * tuple, not an object: the first load then carries no property names for it
 * (docs/decisions/0007-first-load.md).
 */
export type UserActionHost = [
  getState: () => StepUpState,
  setState: (patch: StatePatch) => void,
  /** The flow whose popup waits for a click (authorize() continues it). */
  setWaiting: (flow: Flow<TokenRecord>) => void,
  toTabs: (use: (tabs: Tabs) => void) => void,
  ErrorClass: typeof StepUpError,
]

/** Whether the development warning about continue() without a click was given (once per page). */
let warned = false

/**
 * Expose continue()/cancel() in the state (`'pending-user-action'`); `open` runs synchronously
 * inside continue(), i.e. inside the app's click handler.
 */
export function waitForUser(open: () => boolean, flow: Flow<TokenRecord>, [getState, setState, setWaiting, toTabs, ErrorClass]: UserActionHost): void {
  if (flow.controller.signal.aborted) return
  setWaiting(flow)
  const pending = (): boolean => getState().continue === resume
  const resume = (): void => {
    if (!pending()) return // stale: the flow ended or another one is waiting now
    if (open()) setState({ status: 'authorizing', continue: undefined, cancel: undefined })
    else if (typeof process !== 'undefined' && process.env.NODE_ENV !== 'production' && !warned) {
      warned = true
      console.warn('[stepup-fetch] continue() was called without a user gesture and the popup is still blocked; call it from a click handler')
    }
  }
  const cancel = (): void => {
    if (pending()) flow.controller.abort(new ErrorClass('aborted', 'the step-up was cancelled while it waited for the user', { challenge: flow.challenge }))
  }
  setState({ status: 'pending-user-action', continue: resume, cancel })
  // Other tabs must not wait for a click that may never come (0005 #13).
  toTabs((shared) => shared.waitingForUser(flow))
}
