// The redirect URI page and redirect mode's own steps (DESIGN "Redirect hand-off"): saving the
// flow and the interrupted request before the page leaves, `handleCallback()` (a popup's hand-off
// to its opener, or a redirect's redeem), and `resume()`'s one replay. Loaded by the core with
// import() only when one of them runs, so an app's pages other than the redirect URI never
// download it with popups (issue 5: size).
import type { StepUpChallenge } from '../challenge/types.js'
import type { DpopClient } from '../dpop/dpop.js'
import type { PendingFlow } from '../flows/authorization-request.js'
import { stateMismatch, type StepUpError } from '../errors/step-up-error.js'
import { deliverToOpener } from '../flows/deliver.js'
import { readJson, writeJson } from '../store/session.js'
import type { Tabs } from '../tabs/share-tabs.js'
import { codedTypeError } from '../utils/assert.js'
import { restoreRequest, saveRequest, type SavedRequest, type UnsavedReason } from './replayable-body.js'
import type { Requirement } from './requirement.js'
import type { Flow, FlowQueue } from './single-flight.js'
import type { TokenRecord, TokenSet } from './tokens.js'
import type { CallbackResult, ResumeSkipReason, StatePatch } from './create-step-up.js'

export interface RedirectRecord extends PendingFlow {
  returnTo: string
  sub?: string
}

type ResumeRecord =
  | { state: string; unsaved: UnsavedReason }
  | { state: string; request: SavedRequest; requirement?: Requirement; ready: boolean }

/**
 * What the client lends these steps (its internals, by reference). A tuple, not an object: the
 * first load then carries no property names for it (docs/decisions/0007-first-load.md).
 */
export type RedirectHost = [
  keys: { redirect: string; resume: string; done: string },
  redirectUri: string,
  tokens: TokenSet,
  setState: (patch: StatePatch) => void,
  isProtected: (url: URL) => boolean,
  queue: FlowQueue<TokenRecord>,
  /** Redeem a callback: the code exchange, the ID token checks, the token stored. */
  redeem: (callback: URL, pending: PendingFlow, challenge: undefined) => Promise<TokenRecord>,
  /** Count a callback being redeemed (the client stays 'authorizing' meanwhile). */
  inFlight: (delta: number) => void,
  /** Show a failure in the state and return it. */
  fail: (failure: StepUpError) => StepUpError,
  toStepUpError: (error: unknown, flow: { challenge: undefined }) => StepUpError,
  toTabs: (use: (tabs: Tabs) => void) => void,
  /** Show the held tokens in the state, with `patch`. */
  showTokens: (patch?: StatePatch) => void,
  // The replay, the retry a redirect's token was obtained for:
  remember: (route: string, requirement: Requirement) => Requirement,
  /** With DPoP: the key, opened (tokens of a key that is gone are dropped first). */
  dpopReady: () => Promise<DpopClient> | undefined,
  usable: (token: TokenRecord | undefined) => Promise<TokenRecord | undefined>,
  sendWith: (request: Request, token: TokenRecord | undefined, send: (request: Request) => Promise<Response>) => Promise<Response>,
  fetch: (request: Request) => Promise<Response>,
  challengeOf: (response: Response, url: URL, sentToken: boolean) => Promise<StepUpChallenge | undefined>,
  refused: (response: Response, token: TokenRecord | undefined, route: string, challenge: StepUpChallenge) => Requirement,
  loopDetected: (method: string, url: URL, challenge: StepUpChallenge) => StepUpError,
  routeOf: (method: string, url: URL) => string,
]

/** Before the page leaves for the OP: the flow, where to come back, and the first waiting request. */
export async function saveForRedirect([keys, redirectUri, tokens]: RedirectHost, pending: PendingFlow, flow: Flow<TokenRecord>): Promise<void> {
  const record: RedirectRecord = { ...pending, returnTo: globalThis.location?.href ?? redirectUri }
  const sub = tokens.subject()
  if (sub !== undefined && pending.requirement) record.sub = sub
  // The first request still waiting (an aborted one has taken its saver with it).
  const saver = flow.savers.values().next().value
  const waiting = (saver ? await saver() : undefined) as [Request, unknown] | undefined
  const saved = waiting && (await saveRequest(...waiting))
  writeJson(keys.redirect, record)
  let resume: ResumeRecord | undefined
  if (typeof saved === 'string') resume = { state: pending.state, unsaved: saved }
  else if (saved) resume = { state: pending.state, request: saved, ready: false, ...(pending.requirement ? { requirement: pending.requirement } : {}) }
  writeJson(keys.resume, resume)
}

/** How long a redeemed callback's reload still answers with its result. */
const DONE_TTL_MS = 10 * 60 * 1000

/**
 * A callback this tab already redeemed (a reload of the callback page, StrictMode) answers the
 * same again, for a few minutes and only while its session lasts (logout() forgets it).
 */
function alreadyDone([keys, , tokens]: RedirectHost, state: string): CallbackResult | undefined {
  const done = readJson<{ state: string; returnTo: string; at: number }>(keys.done)
  const fresh = done !== undefined && Date.now() - done.at < DONE_TTL_MS && done.at <= Date.now()
  return fresh && state && done.state === state && tokens.tokens.length > 0 ? { mode: 'redirect', returnTo: done.returnTo } : undefined
}

/** In-flight callbacks by client and state: a second call (React StrictMode) shares the first. */
const callbacks = new WeakMap<RedirectHost, Map<string, Promise<CallbackResult>>>()

/** `handleCallback()`: on the redirect URI page, a redirect's callback is redeemed, a popup's handed to its opener. */
export function handleCallback(host: RedirectHost, input: string | URL | undefined): Promise<CallbackResult> {
  let url: URL
  try {
    url = new URL(String(input ?? globalThis.location?.href))
  } catch {
    return Promise.reject(codedTypeError(`handleCallback() needs the callback URL, got ${JSON.stringify(String(input))}`, 'ERR_INVALID_ARG_VALUE'))
  }
  const state = url.searchParams.get('state') ?? ''
  let mine = callbacks.get(host)
  if (!mine) callbacks.set(host, (mine = new Map()))
  let pending = mine.get(state)
  if (!pending) {
    pending = processCallback(host, url, state).finally(() => mine.delete(state))
    mine.set(state, pending)
  }
  return pending
}

async function processCallback(host: RedirectHost, url: URL, state: string): Promise<CallbackResult> {
  const [keys, , , setState] = host
  const saved = readJson<RedirectRecord>(keys.redirect)
  if (saved && saved.state === state) {
    // Delete first: a reload of the callback page must not redeem the code twice.
    writeJson(keys.redirect, undefined)
    return redeemRedirect(host, url, saved, state)
  }
  const done = alreadyDone(host, state)
  if (done) return done
  if (await deliverToOpener(url)) return { mode: 'popup' }
  // Another instance may have finished this very callback while we waited for an opener.
  const late = alreadyDone(host, state)
  if (late) return late
  writeJson(keys.redirect, undefined)
  writeJson(keys.resume, undefined)
  const failure = stateMismatch()
  setState({ status: 'error', error: failure })
  throw failure
}

/** A redirect's callback, on the redirect URI page: redeem it here, then let resume() replay. */
async function redeemRedirect(host: RedirectHost, url: URL, saved: RedirectRecord, state: string): Promise<CallbackResult> {
  const [keys, , , setState, , queue, redeem, inFlight, fail, toStepUpError, toTabs, showTokens] = host
  // Handled in the page that navigated away (an SPA route): its redirect flow can never
  // settle, so cancel it; resume() is the one replay of the interrupted request.
  queue.abortAll('the redirect step-up finished in this page; resume() replays the request')
  inFlight(1)
  setState({ status: 'authorizing', error: undefined })
  try {
    await redeem(url, saved, undefined)
  } catch (error) {
    writeJson(keys.resume, undefined)
    // Cancelled by logout(), which has already reset the state: reject the caller only.
    throw fail(toStepUpError(error, { challenge: undefined }))
  } finally {
    inFlight(-1)
    // Whatever it brought (its token is out already): the other tabs need not wait for it any more.
    toTabs((shared) => shared.redirecting(false))
  }
  // The saved request may now be replayed, once.
  const resume = readJson<ResumeRecord>(keys.resume)
  if (resume && 'request' in resume && resume.state === saved.state) writeJson(keys.resume, { ...resume, ready: true })
  writeJson(keys.done, { state, returnTo: saved.returnTo, at: Date.now() })
  showTokens({ status: queue.busy() ? 'authorizing' : 'idle' })
  return { mode: 'redirect', returnTo: saved.returnTo }
}

/** `resume()`: replay the saved request once, or say why not (in the state's `lastResume`). */
export async function resumeSaved(host: RedirectHost): Promise<Response | undefined> {
  const [keys, , , setState, isProtected] = host
  const skip = (reason: ResumeSkipReason, message: string): undefined => {
    setState({ lastResume: { replayed: false, reason, message } })
    return undefined
  }
  const record = readJson<ResumeRecord>(keys.resume)
  if (!record) return skip('nothing_saved', 'no interrupted request was saved')
  if ('unsaved' in record) {
    writeJson(keys.resume, undefined)
    return skip('body_not_saved', `the request was not saved (${record.unsaved.replace('_', ' ')}); send it again`)
  }
  if (!record.ready) return skip('not_ready', 'the step-up has not finished; call handleCallback() on the redirect URI first')
  // Deleted before the replay: a reload never replays twice (and it is the one retry).
  writeJson(keys.resume, undefined)
  const request = restoreRequest(record.request)
  const url = new URL(request.url)
  // Whatever sessionStorage holds, a token goes only where protect says.
  if (!isProtected(url)) return skip('nothing_saved', `not replayed: "protect" does not cover ${url.origin}`)
  const response = await replay(host, request, url, record.requirement)
  if (!response) {
    return skip('token_lost', "the token is gone (storage: 'memory' across a reload); use storage: 'session' or handle the callback in the SPA")
  }
  setState({ lastResume: { replayed: true } })
  return response
}

/**
 * Send the restored request with the token obtained for `requirement`; undefined when that token
 * is gone. Throws `loop_detected` when the replay is challenged again.
 */
async function replay(host: RedirectHost, request: Request, url: URL, requirement: Requirement | undefined): Promise<Response | undefined> {
  const [, , tokens, , , , , , , , , , remember, dpopReady, usable, sendWith, fetch, challengeOf, refused, loopDetected, routeOf] = host
  const route = routeOf(request.method, url)
  if (requirement) remember(route, requirement)
  // The replay is the retry this token was obtained for, so no freshness check (max_age=0 must
  // still work seconds later); only expiry counts. DPoP: tokens of a key that is gone go first.
  await dpopReady()
  const token = await usable(tokens.obtainedFor(requirement, Date.now()))
  if (!token) return undefined
  const response = await sendWith(request, token, fetch)
  const again = await challengeOf(response, url, true)
  if (again) {
    refused(response, token, route, again)
    throw loopDetected(request.method, url, again)
  }
  return response
}
