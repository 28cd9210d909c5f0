// The redirect URI page and redirect mode's own steps (DESIGN "Redirect hand-off"): saving the
// flow and the interrupted request before the page leaves, `handleCallback()` (a popup's hand-off
// to its opener, or a redirect's redeem), and `resume()`'s one replay. Loaded by the core with
// import() only when one of them runs, so an app's pages other than the redirect URI never
// download it with popups (issue 5: size).
import type { PendingFlow } from '../flows/authorization-request.js'
import { stateMismatch } from '../errors/step-up-error.js'
import { deliverToOpener } from '../flows/deliver.js'
import { readJson, writeJson } from '../store/session.js'
import { restoreRequest, saveRequest, type SavedRequest, type UnsavedReason } from './replayable-body.js'
import type { Requirement } from './requirement.js'
import type { Flow } from './single-flight.js'
import type { TokenRecord } from './tokens.js'
import type { CallbackResult, ResumeSkipReason, StepUpState } from './create-step-up.js'

export interface RedirectRecord extends PendingFlow {
  returnTo: string
  sub?: string
}

type ResumeRecord =
  | { state: string; unsaved: UnsavedReason }
  | { state: string; request: SavedRequest; requirement?: Requirement; ready: boolean }

/** What the client lends these steps (its internals, by reference). */
export interface RedirectHost {
  keys: { redirect: string; resume: string; done: string }
  redirectUri: string
  subject(): string | undefined
  signedIn(): boolean
  setState(patch: Partial<Pick<StepUpState, 'lastResume' | 'status' | 'error'>>): void
  /** Redeem a redirect's callback (the client's flow: state, tabs, errors); `ready` after success. */
  redeemRedirect(url: URL, saved: RedirectRecord, ready: () => CallbackResult): Promise<CallbackResult>
  /**
   * Send the restored request with the token obtained for `requirement`; undefined when that
   * token is gone. Throws `loop_detected` when the replay is challenged again.
   */
  replay(request: Request, requirement: Requirement | undefined): Promise<Response | undefined>
  isProtected(url: URL): boolean
}

/** Before the page leaves for the OP: the flow, where to come back, and the first waiting request. */
export async function saveForRedirect(host: RedirectHost, pending: PendingFlow, flow: Flow<TokenRecord>): Promise<void> {
  const record: RedirectRecord = { ...pending, returnTo: globalThis.location?.href ?? host.redirectUri }
  const sub = host.subject()
  if (sub !== undefined && pending.requirement) record.sub = sub
  // The first request still waiting (an aborted one has taken its saver with it).
  const saver = flow.savers.values().next().value
  const waiting = (saver ? await saver() : undefined) as [Request, unknown] | undefined
  const saved = waiting && (await saveRequest(...waiting))
  writeJson(host.keys.redirect, record)
  let resume: ResumeRecord | undefined
  if (typeof saved === 'string') resume = { state: pending.state, unsaved: saved }
  else if (saved) resume = { state: pending.state, request: saved, ready: false, ...(pending.requirement ? { requirement: pending.requirement } : {}) }
  writeJson(host.keys.resume, resume)
}

/** How long a redeemed callback's reload still answers with its result. */
const DONE_TTL_MS = 10 * 60 * 1000

/**
 * A callback this tab already redeemed (a reload of the callback page, StrictMode) answers the
 * same again, for a few minutes and only while its session lasts (logout() forgets it).
 */
function alreadyDone(host: RedirectHost, state: string): CallbackResult | undefined {
  const done = readJson<{ state: string; returnTo: string; at: number }>(host.keys.done)
  const fresh = done !== undefined && Date.now() - done.at < DONE_TTL_MS && done.at <= Date.now()
  return fresh && state && done.state === state && host.signedIn() ? { mode: 'redirect', returnTo: done.returnTo } : undefined
}

/** `handleCallback()` for one callback URL (the client shares one call per `state`). */
export async function processCallback(host: RedirectHost, url: URL, state: string): Promise<CallbackResult> {
  const saved = readJson<RedirectRecord>(host.keys.redirect)
  if (saved && saved.state === state) {
    // Delete first: a reload of the callback page must not redeem the code twice.
    writeJson(host.keys.redirect, undefined)
    return host.redeemRedirect(url, saved, () => markReady(host, saved, state))
  }
  const done = alreadyDone(host, state)
  if (done) return done
  if (await deliverToOpener(url)) return { mode: 'popup' }
  // Another instance may have finished this very callback while we waited for an opener.
  const late = alreadyDone(host, state)
  if (late) return late
  writeJson(host.keys.redirect, undefined)
  writeJson(host.keys.resume, undefined)
  const failure = stateMismatch()
  host.setState({ status: 'error', error: failure })
  throw failure
}

/** After a successful redeem: the saved request may now be replayed, once. */
function markReady(host: RedirectHost, saved: RedirectRecord, state: string): CallbackResult {
  const resume = readJson<ResumeRecord>(host.keys.resume)
  if (resume && 'request' in resume && resume.state === saved.state) writeJson(host.keys.resume, { ...resume, ready: true })
  writeJson(host.keys.done, { state, returnTo: saved.returnTo, at: Date.now() })
  return { mode: 'redirect', returnTo: saved.returnTo }
}

/** `resume()`: replay the saved request once, or say why not (in the state's `lastResume`). */
export async function resumeSaved(host: RedirectHost): Promise<Response | undefined> {
  const skip = (reason: ResumeSkipReason, message: string): undefined => {
    host.setState({ lastResume: { replayed: false, reason, message } })
    return undefined
  }
  const record = readJson<ResumeRecord>(host.keys.resume)
  if (!record) return skip('nothing_saved', 'no interrupted request was saved')
  if ('unsaved' in record) {
    writeJson(host.keys.resume, undefined)
    return skip('body_not_saved', `the request was not saved (${record.unsaved.replace('_', ' ')}); send it again`)
  }
  if (!record.ready) return skip('not_ready', 'the step-up has not finished; call handleCallback() on the redirect URI first')
  // Deleted before the replay: a reload never replays twice (and it is the one retry).
  writeJson(host.keys.resume, undefined)
  const request = restoreRequest(record.request)
  const url = new URL(request.url)
  // Whatever sessionStorage holds, a token goes only where protect says.
  if (!host.isProtected(url)) return skip('nothing_saved', `not replayed: "protect" does not cover ${url.origin}`)
  const response = await host.replay(request, record.requirement)
  if (!response) {
    return skip('token_lost', "the token is gone (storage: 'memory' across a reload); use storage: 'session' or handle the callback in the SPA")
  }
  host.setState({ lastResume: { replayed: true } })
  return response
}
