/** What the SDK hands an {@link Interaction}. */
export interface InteractionContext {
  /** Aborted when nobody waits for the step-up any more (or `logout()` ran): close your UI and reject. */
  signal: AbortSignal
  /**
   * Saves the pending flow and the interrupted request in sessionStorage so the step-up can
   * finish after a full-page navigation. Call it before leaving the page; the built-in
   * `redirect()` interaction does.
   */
  beforeRedirect: () => Promise<void>
  /**
   * For an interaction that needs a user gesture (the built-in `popup({ fallback: 'user-action' })`
   * when the browser blocked the popup): the state turns `'pending-user-action'` with a
   * `continue()` the app calls from a click handler (a moment after this call: that part of the
   * SDK is loaded on demand; not at all once the interaction has settled). `open` then runs
   * synchronously inside that call, where `window.open` is allowed, and returns whether it got
   * through (`false` keeps waiting). The interaction must still settle when `signal` aborts
   * (e.g. `cancel()`).
   * Absent when an interaction is called outside `createStepUp`.
   */
  waitForUser?: (open: () => boolean) => void
}

/**
 * Takes the authorization URL to the user and resolves with the callback URL the OP
 * redirected to (the `redirectUri` with `code`, `state`, `iss`, or `error`).
 * {@link popup} and {@link redirect} are the built-in ones; a custom one makes the core
 * usable in Node, Electron, Capacitor and tests.
 *
 * @example
 * ```ts
 * // Electron: open the URL in a BrowserWindow and resolve with the redirect it ends on.
 * const interaction: Interaction = (url, { signal }) => openAuthWindow(url, signal)
 * ```
 */
export type Interaction = (authorizationUrl: URL, ctx: InteractionContext) => Promise<URL | string>
