import { hasChallengeError, isInvalidTokenChallenge } from '../challenge/invalid-token.js'
import { readStepUpChallenge } from '../challenge/read-step-up-challenge.js'
import type { StepUpChallenge } from '../challenge/types.js'
import { isStepUpError, messageOf, StepUpError, type StepUpErrorCode } from '../errors/step-up-error.js'
import { createAuthorizationRequest, type PendingFlow, type RequestAcrWith } from '../flows/authorization-request.js'
import { isAbortError, redeemCallback, withTokens } from '../flows/callback.js'
import type { DpopClient } from '../dpop/dpop.js'
import type { Interaction, InteractionContext } from '../flows/interaction.js'
import { popup } from '../flows/popup.js'
import { redirect } from '../flows/redirect.js'
import { discover as fetchMetadata, grant, type Metadata, type OAuthClient } from '../flows/oauth.js'
import { memoryStore, type TokenStore } from '../store/memory.js'
import { sessionStore, writeJson } from '../store/session.js'
import { isLoopbackHttp, must, parseAbsoluteUrl } from '../utils/assert.js'
import { viaExchange, type ExchangeInit } from './exchange.js'
import { compileProtect, type Protect } from './protect.js'
import type { RedirectHost, RedirectRecord } from './redirect-mode.js'
import { defaultAcceptAcr, requirementKey, toRequirement, type AcceptAcr, type Requirement } from './requirement.js'
import { abortedError, FlowQueue, type Flow } from './single-flight.js'
import { alive, TokenSet, type TokenRecord } from './tokens.js'
import type { Tabs } from '../tabs/share-tabs.js'

/** Options for {@link createStepUp}. */
export interface StepUpOptions {
  /** The OP's issuer identifier. Metadata comes from its discovery document (fetched once, cached). `http:` only on loopback. */
  issuer: string
  /** A public client's id (no secret: this runs in the browser). */
  clientId: string
  /** Absolute redirect URI registered at the OP; its page calls `handleCallback()`. */
  redirectUri: string
  /**
   * The only URLs a token is ever sent to, and the only ones whose challenges start a step-up.
   * Strings are URL prefixes (same origin, path on a segment boundary); RegExps are tested
   * against the full URL; a function receives the parsed URL.
   */
  protect: Protect
  /**
   * Scope of every authorization request; must include `openid`.
   * @default 'openid'
   */
  scope?: string
  /**
   * How the user meets the OP: `'popup'`, `'redirect'`, or your own {@link Interaction}.
   * @default 'popup'
   */
  interaction?: 'popup' | 'redirect' | Interaction
  /**
   * Decides whether the new ID token's `acr` meets the required values (an empty array
   * means no requirement). Override it for an OP with ordered levels where a higher one satisfies a lower.
   * @default acr is one of the required values (any acr when none are required)
   */
  acceptAcr?: AcceptAcr
  /**
   * How the requirement is sent: `acr_values` (a hint for many OPs), an essential `acr` in the
   * `claims` parameter (which the OP must enforce), or both. The SDK verifies the acr in every mode.
   * @default 'acr_values'
   */
  requestAcrWith?: RequestAcrWith
  /**
   * Where tokens live, refresh tokens included: this page's memory (gone on reload, safest
   * against XSS persistence), or sessionStorage (survives reloads of this tab, readable by any
   * script on the origin; a stolen refresh token works until the OP expires or revokes it).
   * @default 'memory'
   */
  storage?: 'memory' | 'session'
  /**
   * The fetch underneath, for tests and other runtimes.
   * @default globalThis.fetch, looked up at call time
   */
  fetch?: typeof fetch
  /**
   * RFC 9449 sender-constrained tokens. Tokens are bound to an ES256 key pair whose private half
   * is non-extractable, made before the first token request and kept in IndexedDB (one per issuer
   * and client id, shared by the origin's tabs; in memory where IndexedDB is missing or fails,
   * where a reload ends the session). Protected requests carry `Authorization: DPoP` and a fresh
   * proof; a `use_dpop_nonce` answer from the OP or the API is retried once with its nonce (not
   * counted as the step-up retry), nonces kept per origin. A token response that is not DPoP-bound
   * is refused with `invalid_response`. `logout()` deletes the key only with `shareAcrossTabs: true`
   * (other tabs' sessions may be bound to it; docs/decisions/0004-dpop.md #4). The DPoP code is loaded with
   * `import()` only when this is `true`.
   * @default false
   * @see [RFC 9449](https://www.rfc-editor.org/rfc/rfc9449.html)
   */
  dpop?: boolean
  /**
   * Seconds of clock skew allowed when checking `auth_time` against `max_age`.
   * @default 30
   */
  clockTolerance?: number
  /**
   * Share tokens with the other tabs of this origin that run this client (same `issuer` and
   * `clientId`), over a BroadcastChannel: a token one tab obtains (sign-in, step-up, refresh)
   * is copied to the others, a new tab gets the open tabs' tokens, `logout()` signs out every
   * tab, and tabs that hit a challenge at once run one authorization between them (Web Locks,
   * where available; refreshes too). Only in a browser window (where `document` exists): on a
   * server, clients of different users never share. On, any script of the origin can ask the
   * channel for every token, refresh tokens included, even with `storage: 'memory'` (README,
   * "Storage and XSS"). Off: nothing is broadcast, no lock is taken, and the code is not loaded.
   * @default false
   */
  shareAcrossTabs?: boolean
}

/** Parameters for {@link StepUp.authorize}. */
export interface AuthorizeParams {
  /** Acceptable acr values, in order of preference; none means a plain login. */
  acrValues?: string[]
  /** Maximum seconds since the last authentication; `0` forces a fresh one. */
  maxAge?: number
  /** Cancels the authorization; it then rejects with `StepUpError('aborted')`. */
  signal?: AbortSignal
}

/** What {@link StepUp.handleCallback} did. */
export interface CallbackResult {
  /** `'popup'`: handed to the opener (this window closes). `'redirect'`: redeemed here. */
  mode: 'popup' | 'redirect'
  /** For `'redirect'`: the page the step-up started on; navigate there (or stay) and call `resume()`. */
  returnTo?: string
}

/** Why {@link StepUp.resume} had nothing to replay. */
export type ResumeSkipReason = 'nothing_saved' | 'not_ready' | 'body_not_saved' | 'token_lost'

/** The outcome of the last {@link StepUp.resume}. */
export type ResumeOutcome = { replayed: true } | { replayed: false; reason: ResumeSkipReason; message: string }

/** A snapshot for UI. The same object is returned until something changes. */
export interface StepUpState {
  /**
   * `'authorizing'` while a login or step-up runs; `'pending-user-action'` while it waits for a
   * click (the browser blocked the popup and `popup({ fallback: 'user-action' })` was chosen: call
   * {@link StepUpState.continue} from a click handler); `'error'` after one failed.
   */
  status: 'idle' | 'authorizing' | 'pending-user-action' | 'error'
  /**
   * Only while `status` is `'pending-user-action'`: runs the waiting step-up. Call it from a
   * click (or key) handler, where browsers allow a popup; called without a user gesture it
   * leaves the step-up waiting and warns.
   */
  continue?: () => void
  /**
   * Only while `status` is `'pending-user-action'`: gives the step-up up; the requests waiting
   * for it reject with `StepUpError('aborted')` and are not retried.
   */
  cancel?: () => void
  /** Whether a token is held (an expired one counts while its refresh token can renew it). */
  authenticated: boolean
  /**
   * `true` when the session ended on its own: the last token expired without a refresh token, or
   * the OP refused its refresh (`invalid_grant`), or (with `dpop`) the key its tokens are bound to
   * is gone. Show "signed out" and offer `authorize()`. Noticed
   * when a request needs a token (no timers). Cleared by the next sign-in and by `logout()`.
   */
  expired?: boolean
  /** The signed-in subject. */
  sub?: string
  /** The `acr` of the newest token. */
  acr?: string
  /** The `amr` of the newest token. */
  amr?: string[]
  /** The `auth_time` (epoch seconds) of the newest token. */
  authTime?: number
  /** The challenge being handled (while authorizing) or that failed. */
  challenge?: StepUpChallenge
  /** The last failure, until the next flow starts. */
  error?: StepUpError
  /** A diagnostic the app should surface to its developers, e.g. `challenge_unreadable`. */
  diagnostic?: StepUpError
  /** What the last `resume()` did. */
  lastResume?: ResumeOutcome
}

/** The client {@link createStepUp} returns. */
export interface StepUp {
  /**
   * A drop-in `fetch`: attaches the token to protected URLs, turns a step-up challenge into one
   * verified step-up and one retry. Every other response comes back untouched.
   * Rejects with a {@link StepUpError} when the step-up fails (the request is not retried), and
   * with the signal's reason when the request is aborted.
   */
  fetch: typeof fetch
  /**
   * Explicit login (no parameters: sets the baseline token) or step-up, e.g. from a click handler.
   * @throws {StepUpError} Any flow error; `aborted` when `params.signal` fires.
   */
  authorize(params?: AuthorizeParams): Promise<void>
  /**
   * Call on the redirect URI page (popup and redirect). In a popup it hands the callback to the
   * opener and closes; after a redirect it redeems the code, verifies the token and resolves with
   * where to return.
   * @throws {StepUpError} `state_mismatch`, OP errors, verification errors; the saved request is discarded.
   */
  handleCallback(url?: string | URL): Promise<CallbackResult>
  /**
   * After a redirect step-up: replay the interrupted request once and resolve with its Response;
   * `undefined` when there is nothing to replay (the reason is in `getState().lastResume`).
   * @throws {StepUpError} `loop_detected` when the replay is challenged again.
   */
  resume(): Promise<Response | undefined>
  /** The current {@link StepUpState}. */
  getState(): StepUpState
  /** Calls `listener` after every state change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void
  /** Forgets every token and cancels pending flows (their callers reject with `aborted`). */
  logout(): void
}

/**
 * A change of {@link StepUpState} for the client's `setState` (and the chunks it lends it to):
 * `undefined` deletes the field (exactOptionalPropertyTypes keeps snapshots clean). Internal.
 */
export type StatePatch = { [K in keyof StepUpState]?: StepUpState[K] | undefined }

const warned = new Set<string>()
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return
  warned.add(key)
  console.warn(`[stepup-fetch] ${message}`)
}

/**
 * Create a step-up client for one OP and one public client.
 *
 * @param options Issuer, client, redirect URI, the protected URLs and behaviour switches.
 * @returns The {@link StepUp} client.
 * @throws {TypeError} With `code` `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for bad options.
 * @example
 * ```ts
 * import { createStepUp } from 'stepup-fetch'
 *
 * const stepUp = createStepUp({
 *   issuer: 'https://op.example.com',
 *   clientId: 'spa',
 *   redirectUri: 'https://app.example.com/callback',
 *   protect: ['https://api.example.com'],
 * })
 * await stepUp.authorize() // sign in, from a click
 * const res = await stepUp.fetch('https://api.example.com/transfer', { method: 'POST', body })
 * ```
 * @see [RFC 9470](https://www.rfc-editor.org/rfc/rfc9470.html)
 */
/* @__NO_SIDE_EFFECTS__ */
export function createStepUp(options: StepUpOptions): StepUp {
  must(typeof options === 'object' && options !== null, 'options', 'an object')
  for (const name of ['issuer', 'clientId', 'redirectUri'] as const) must(typeof options[name] === 'string' && options[name] !== '', name, 'a non-empty string')
  const issuer = parseAbsoluteUrl(options.issuer, 'issuer')
  const insecure = isLoopbackHttp(issuer)
  must(issuer.protocol === 'https:' || insecure, 'issuer', 'https: (http: only on 127.0.0.1, [::1] or localhost)', options.issuer)
  parseAbsoluteUrl(options.redirectUri, 'redirectUri')
  const isProtected = compileProtect(options.protect)
  const scope = options.scope ?? 'openid'
  must(typeof scope === 'string' && scope.split(' ').includes('openid'), 'scope', 'a list that includes "openid"', scope)
  const interaction = resolveInteraction(options.interaction)
  /** An optional option of this `typeof` (null and undefined mean the default). */
  const optional = (name: keyof StepUpOptions, type: string): void => must(options[name] == null || typeof options[name] === type, name, `a ${type}`)
  /** One of these strings; the first is the default. */
  const oneOf = <T extends string>(name: keyof StepUpOptions, values: T[]): T => {
    const value = (options[name] ?? values[0]) as T
    must(values.includes(value), name, values.map((v) => `'${v}'`).join(' or '), value)
    return value
  }
  optional('acceptAcr', 'function')
  const acceptAcr = options.acceptAcr ?? defaultAcceptAcr
  const requestAcrWith = oneOf<RequestAcrWith>('requestAcrWith', ['acr_values', 'claims', 'both'])
  const storage = oneOf('storage', ['memory', 'session'])
  optional('fetch', 'function')
  optional('dpop', 'boolean')
  optional('shareAcrossTabs', 'boolean')
  const clockTolerance = options.clockTolerance ?? 30
  must(Number.isFinite(clockTolerance) && clockTolerance >= 0, 'clockTolerance', 'a non-negative number of seconds', clockTolerance)

  const userFetch = options.fetch
  // Looked up per call, so a fetch patched later (msw, polyfills) is the one used; called
  // unbound, because browsers reject window.fetch invoked on another object.
  const baseFetch: typeof fetch = (input, init) => (userFetch ? userFetch(input, init) : globalThis.fetch(input, init))
  const prefix = `stepup-fetch:${options.clientId}:`
  const keys = { tokens: `${prefix}tokens`, redirect: `${prefix}redirect`, resume: `${prefix}resume`, done: `${prefix}done` }
  const store: TokenStore = storage === 'session' ? sessionStore(keys.tokens) : memoryStore()
  // Without dpop, a DPoP-bound token (stored while it was on) could only go out without its proof.
  const tokens = new TokenSet(store.load().filter((t) => options.dpop || t.tokenType !== 'DPoP'))
  /** Which method + URL demanded which requirement (the latest challenge wins). */
  const routes = new Map<string, Requirement>()
  /** Requirements the API refused a token for: that token is never offered for them again. */
  const rejections = new WeakMap<TokenRecord, Set<string>>()
  const findToken = (requirement: Requirement): TokenRecord | undefined => {
    const key = requirementKey(requirement)
    return tokens.find(requirement, acceptAcr, Date.now(), (t) => !rejections.get(t)?.has(key))
  }
  // The OP is reached through the same fetch as the API; http: only for a loopback issuer.
  const client: OAuthClient = { clientId: options.clientId, fetch: baseFetch, insecure, clockTolerance }

  let metadata: Promise<Metadata> | undefined
  const discover = (): Promise<Metadata> =>
    (metadata ??= fetchMetadata(issuer, client).catch((error: unknown) => {
      metadata = undefined // a failed discovery is retried by the next flow
      throw new StepUpError('discovery_error', `OP metadata from ${issuer.href} failed: ${messageOf(error)}; check "issuer" and the OP's CORS`, { cause: error })
    }))

  // --- state -------------------------------------------------------------------------------
  let state: StepUpState = { status: 'idle', authenticated: false }
  const listeners = new Set<() => void>()
  const setState = (patch: StatePatch, replace = false): void => {
    const next = (replace ? { ...patch } : { ...state, ...patch }) as Record<string, unknown>
    for (const key of Object.keys(next)) if (next[key] === undefined) delete next[key]
    // Nothing changed: keep the snapshot (useSyncExternalStore and Vue refs compare by identity).
    const keys = Object.keys(next)
    if (keys.length === Object.keys(state).length && keys.every((key) => next[key] === (state as unknown as Record<string, unknown>)[key])) return
    state = next as unknown as StepUpState
    for (const listener of [...listeners]) {
      try {
        listener()
      } catch (error) {
        // A broken UI listener must not break the SDK's flows: report it like an uncaught error.
        // (the page's reportError(), when it has one, else the console).
        if (typeof reportError === 'function') reportError(error)
        else console.error('[stepup-fetch] a subscribe() listener threw:', error)
      }
    }
  }
  const showTokens = (patch?: StatePatch): void => {
    const newest = tokens.tokens.at(-1)
    setState({ authenticated: newest !== undefined, expired: undefined, sub: newest?.sub, acr: newest?.acr, amr: newest?.amr, authTime: newest?.authTime, ...patch })
  }
  showTokens()
  /** Show a failure in the state (not a cancellation: that is no error to show), then throw it. */
  const fail = (failure: StepUpError): StepUpError => {
    if (failure.code !== 'aborted') setState({ status: 'error', error: failure })
    return failure
  }

  const saveTokens = (record: TokenRecord): void => {
    // A plain login as somebody else is a user switch: nothing of the old user survives it.
    if (!record.requirement && tokens.subject() !== undefined && tokens.subject() !== record.sub) {
      tokens.clear()
      routes.clear()
    }
    tokens.add(record, (a, b) => requirementKey(a.requirement) === requirementKey(b.requirement))
    store.save(tokens.tokens)
    toTabs((tabs) => tabs.publish(record))
  }

  // --- flows -------------------------------------------------------------------------------
  /** Bumped by logout(): a token response that arrives after it is dropped, never stored. */
  let epoch = 0
  /** handleCallback() calls redeeming right now (the state is theirs to report). */
  let callbacksInFlight = 0
  const redeem = async (callback: URL, pending: PendingFlow, challenge: StepUpChallenge | undefined, signal?: AbortSignal): Promise<TokenRecord> => {
    const started = epoch
    const as = await discover()
    // Only a step-up must keep the user; a plain login may switch users (saveTokens).
    const expectedSubject = pending.requirement ? ((pending as Partial<RedirectRecord>).sub ?? tokens.subject()) : undefined
    const record = await redeemCallback(callback, pending, {
      as, client, redirectUri: options.redirectUri, acceptAcr, clockTolerance, expectedSubject, challenge, signal,
      dpop: options.dpop ? await useDpop() : undefined,
    })
    signal?.throwIfAborted()
    if (epoch !== started) throw new StepUpError('aborted', 'signed out during the step-up; its token was dropped', { challenge })
    saveTokens(record)
    return record
  }

  // --- refresh (docs/decisions/0003-token-lifecycle.md) ----------------------------------------
  /** Forget tokens; the session has expired when none is left. */
  const drop = (dead: (token: TokenRecord) => boolean): void => {
    // Called by every protected request: no new list unless a token is really gone.
    if (!tokens.tokens.some(dead)) return
    tokens.tokens = tokens.tokens.filter((t) => !dead(t))
    store.save(tokens.tokens)
    showTokens({ expired: !tokens.tokens.length || undefined })
  }
  /**
   * One refresh per token (single flight). The promise stays: whoever still holds the old record
   * gets its successor, never a second use of a spent (rotated) refresh token.
   */
  const refreshes = new WeakMap<TokenRecord, Promise<TokenRecord | undefined>>()
  const refresh = (token: TokenRecord): Promise<TokenRecord | undefined> => {
    let pending = refreshes.get(token)
    if (!pending) {
      // Shared: one tab at a time; a successor another tab got meanwhile is taken instead (0005 #12).
      pending = tabs
        ? tabs.then((shared) => (shared ? shared.refresh(token, renew).then((next) => (next && next !== token && stale(next) ? refresh(next) : next)) : renew(token)))
        : renew(token)
      refreshes.set(token, pending)
    }
    return pending
  }
  /** The refresh grant, loaded on the first refresh (refresh.ts); a chunk that does not load is a failure that may pass. */
  const renew = (token: TokenRecord): Promise<TokenRecord | undefined> => {
    const started = epoch
    return import('./refresh.js').then(
      (module) => module.renew(token, started, [discover, client, grant, withTokens, options.dpop ? useDpop : undefined, tokens, () => epoch, drop, (next) => {
        const refused = rejections.get(token)
        if (refused) rejections.set(next, refused)
        store.save(tokens.tokens)
        toTabs((tabs) => tabs.publish(next))
      }, refreshes]),
      () => void refreshes.delete(token),
    )
  }
  /** Due for a refresh: it has a refresh token and less than 10% of its lifetime (at most 30 s) is left. */
  const stale = (token: TokenRecord | undefined): token is TokenRecord & { expiresAt: number } =>
    token?.refreshToken !== undefined && token.expiresAt !== undefined && token.expiresAt - Date.now() <= Math.min(30_000, (token.expiresAt - token.obtainedAt) / 10)
  /** The token to send, refreshed first when stale; undefined when its refresh failed and it has expired. */
  const usable = async (token: TokenRecord | undefined): Promise<TokenRecord | undefined> =>
    stale(token) ? ((await refresh(token)) ?? (token.expiresAt > Date.now() ? token : undefined)) : token

  // --- DPoP (docs/decisions/0004-dpop.md) ------------------------------------------------------
  /** The DPoP key and handle: its module is imported, and the key loaded or made, on first use. */
  let dpop: Promise<DpopClient> | undefined
  /** The key's thumbprint once it is open (tokens of other tabs must be bound to it). */
  let dpopJkt: string | undefined
  /** A logout's deletion of the key: the next key is opened after it, never the deleted one. */
  let forgetting: Promise<void> | undefined
  const useDpop = (): Promise<DpopClient> => {
    const opening: Promise<DpopClient> = (dpop ??= import('../dpop/dpop.js')
      .then((module) => module.openKey(`${issuer.href} ${options.clientId}`, forgetting, hasChallengeError, (opened) => {
        // Signed out meanwhile: this key belongs to a session that is gone. Else tokens bound to
        // another key (one deleted by a logout, or lost with a memory key on reload) can never
        // be used again: the session has ended.
        if (dpop === opening) {
          dpopJkt = opened.jkt
          drop((t) => t.jkt !== opened.jkt)
        }
      }), (error: unknown) => Promise.reject(chunkError(error, 'DPoP', 'token_error')))
      .catch((error: unknown) => {
        if (dpop === opening) dpop = undefined // the next request tries again
        throw error
      }))
    return opening
  }
  // Tokens from sessionStorage: check them against the stored key now, so the state is right early.
  // With tab sharing too: open it now, so that tokens from other tabs are checked against it.
  if (options.dpop && (tokens.tokens.length || options.shareAcrossTabs)) useDpop().catch(() => {})
  /** Send `request` with `token`: `Authorization: Bearer`, or DPoP with a fresh proof per request. */
  const sendWith = async (request: Request, token: TokenRecord | undefined, send: (request: Request) => Promise<Response>): Promise<Response> => {
    if (token && options.dpop) return (await useDpop()).send(request, token.accessToken, send)
    if (token) request.headers.set('authorization', authorizationHeader(token))
    return send(request)
  }

  const runFlow = async (flow: Flow<TokenRecord>): Promise<TokenRecord> => {
    const { signal } = flow.controller
    if (!flow.force && flow.requirement) {
      // An earlier flow in the queue may already have met this requirement.
      const held = findToken(flow.requirement)
      if (held) return held
    }
    setState({ status: 'authorizing', challenge: flow.challenge, error: undefined })
    try {
      const as = await untilAborted(discover(), signal)
      // A hint for the app's developers, inline so that production builds drop it (bundlers define NODE_ENV).
      if (typeof process !== 'undefined' && process.env.NODE_ENV !== 'production') {
        const supported = as.acr_values_supported
        for (const acr of flow.requirement?.acrValues ?? []) {
          if (Array.isArray(supported) && !supported.includes(acr)) {
            warnOnce(`acr:${acr}`, `the OP does not list acr ${JSON.stringify(acr)} in acr_values_supported and may ignore it (the SDK still verifies the acr)`)
          }
        }
      }
      const { url, flow: pending } = await createAuthorizationRequest(as, { clientId: options.clientId, redirectUri: options.redirectUri, scope, requestAcrWith }, flow.requirement)
      /** The interaction has settled: a wait for the user that it asked for is over too. */
      let ended = false
      const ctx: InteractionContext = {
        signal,
        beforeRedirect: async () => {
          // The page is about to leave, and its lock with it: the other tabs wait for its token
          // instead (0005 #8); told again if it stays after all (its chunk did not load, an abort).
          toTabs((shared) => shared.redirecting(true))
          try {
            const mode = await redirectMode()
            signal.throwIfAborted()
            await mode.saveForRedirect(host, pending, flow)
          } catch (error) {
            toTabs((shared) => shared.redirecting(false))
            throw error
          }
        },
        // The interaction needs a user gesture (a blocked popup): continue()/cancel() in the
        // state (user-action.ts, loaded then; never for an interaction that has ended meanwhile).
        // A chunk that does not load ends the flow with chunkError().
        waitForUser: (open) =>
          void import('./user-action.js').then(
            (module) => ended || module.waitForUser(open, flow, [() => state, setState, (f) => (waiting = f), toTabs, StepUpError]),
            (error: unknown) => ended || flow.controller.abort(chunkError(error, 'user-action')),
          ) }
      let callback: URL
      try {
        // Cancelled while preparing: never show UI for a flow nobody waits for.
        signal.throwIfAborted()
        callback = new URL(String(await untilAborted(Promise.resolve().then(() => interaction(url, ctx)), signal)))
      } catch (error) {
        throw interactionError(error, flow)
      } finally {
        ended = true
        // However the interaction ended, a continue() left in the state must not outlive it.
        if (state.status === 'pending-user-action') setState({ status: 'authorizing', continue: undefined, cancel: undefined })
      }
      const record = await untilAborted(redeem(callback, pending, flow.challenge, signal), signal)
      // Still 'authorizing' (whatever happened meanwhile); the settle hook ends it when nothing else waits.
      showTokens({ status: 'authorizing', error: undefined, challenge: undefined })
      return record
    } catch (error) {
      // A cancelled flow is nobody's failure to show; the queue's settle hook tidies the status.
      throw fail(toStepUpError(error, flow))
    }
  }
  /** The flow whose popup waits for a click (while the state is 'pending-user-action'). */
  let waiting: Flow<TokenRecord> | undefined
  // After every flow (run, met by a held token, or cancelled in the queue): idle once nothing is left.
  const queue: FlowQueue<TokenRecord> = new FlowQueue<TokenRecord>((flow) => (tabs ? tabs.then((shared) => (shared ? shared.run(flow) : runFlow(flow))) : runFlow(flow)), () => {
    if (state.status === 'authorizing' && callbacksInFlight === 0 && !queue.busy()) setState({ status: 'idle', challenge: undefined })
  })

  // --- challenges ----------------------------------------------------------------------------
  const challengeOf = async (response: Response, url: URL, sentToken: boolean): Promise<StepUpChallenge | undefined> => {
    if (response.status !== 401 && response.status !== 403) return undefined
    // Followed a redirect off the allowlist: that server must not be able to make us prompt.
    if (response.redirected && response.url && !isProtected(new URL(response.url))) return undefined
    const challenge = await readStepUpChallenge(response)
    if (challenge || response.status !== 401 || !sentToken || response.headers.has('www-authenticate')) return challenge
    const pageOrigin = globalThis.location?.origin
    // Cross-origin, and the browser hid the challenge: the diagnostic (challenge_unreadable) is a
    // chunk of its own; one that does not load leaves the response as it is.
    if (pageOrigin !== undefined && pageOrigin !== url.origin) await import('../challenge/unreadable.js').then((module) => module.unreadable(url.origin, setState, StepUpError), () => {})
    return undefined
  }

  // Parsing the URL is most of what a protected request costs on top of fetch, so the verdicts
  // for recent string inputs are kept (bounded, keyed with the base URL they were resolved
  // against). Not with a protect function: it receives the URL and may be impure.
  const verdicts = typeof options.protect === 'function' ? undefined : new Map<string, URL | undefined>()
  const protectedUrl = (input: RequestInfo | URL): URL | undefined => {
    // An absolute URL resolves the same on every page; a relative one per base. Long inputs
    // (data: URLs) are not kept.
    const key = verdicts && typeof input === 'string' && input.length < 2048 ? (/^[a-z][a-z\d+.-]*:\/\//i.test(input) ? input : `${baseUrl()} ${input}`) : undefined
    if (key !== undefined && verdicts!.has(key)) return verdicts!.get(key)
    let url: URL | undefined
    try {
      // Resolve exactly as fetch will (it stringifies anything that is not a Request: a URL of
      // another realm, a String object). Checking one URL and sending to another would leak the token.
      url = new URL(isRequest(input) ? input.url : String(input), baseUrl())
    } catch {
      // not a URL: fetch rejects it, with no token sent
    }
    if (url && !isProtected(url)) url = undefined
    if (key !== undefined) {
      if (verdicts!.size >= 64) verdicts!.clear()
      verdicts!.set(key, url)
    }
    return url
  }

  // One string per token, built once: a new one per request costs fetch a copy and a check of
  // about 1 KB each time, about 1% of a loopback request (bench/RESULTS.md).
  const headerValues = new WeakMap<TokenRecord, string>()
  const authorizationHeader = (token: TokenRecord): string => {
    let value = headerValues.get(token)
    if (value === undefined) headerValues.set(token, (value = `${token.tokenType} ${token.accessToken}`))
    return value
  }

  const stepUpFetch = async (input: RequestInfo | URL, init?: ExchangeInit): Promise<Response> => {
    // An adapter (ky) may time each API exchange; the step-up between them is never timed.
    const exchange = init?.[viaExchange]
    const send = (request: Request, stepUpRetry?: boolean): Promise<Response> => (exchange ? exchange(request, baseFetch, stepUpRetry) : baseFetch(request))
    const url = protectedUrl(input)
    // Unprotected (or unparseable: let fetch report it): untouched, no token, no step-up.
    if (!url) return exchange ? send(new Request(input, init)) : baseFetch(input, init)
    // The common case, a URL without a body or credentials and a plain init, goes out as
    // (url, init) like any fetch call: building a Request of our own costs an AbortSignal and a
    // copy per request (bench/RESULTS.md). A Request is built only when a challenge needs a retry.
    // Anything else is a Request first, which also throws where fetch would (credentials in the URL).
    // Only with our own underlying fetch (a custom one keeps receiving a Request), for a string or
    // URL, and headers that can be read twice (the retry reads them again).
    let headers: HeadersInit | undefined = init?.headers
    const plain =
      !options.dpop && !userFetch && !exchange && (typeof input === 'string' || input instanceof URL) && init?.body == null && !url.username && !url.password &&
      (!init || Object.getPrototypeOf(init) === Object.prototype) &&
      (headers === undefined || Array.isArray(headers) || headers instanceof Headers || Object.getPrototypeOf(headers) === Object.prototype)
    let request = plain ? undefined : new Request(input, init)
    // Belt and braces: the URL the request will really go to must be the one we checked.
    if (request && request.url !== url.href && !isProtected(new URL(request.url))) return send(request)
    // As fetch does: any value becomes a string; only the six standard methods are upper-cased.
    let method = request?.method ?? String(init?.method === undefined ? 'GET' : init.method)
    if (/^(?:delete|get|head|options|post|put)$/i.test(method)) method = method.toUpperCase()
    const signal = init?.signal ?? (isRequest(input) ? input.signal : undefined)
    const route = routeOf(method, url)
    const known = routes.get(route)
    // An expired token that no refresh token can renew is gone: the session has ended (state
    // `expired`), and the request goes out without a token like any signed-out one.
    // DPoP: tokens bound to a key that is gone are dropped before one is picked.
    if (options.dpop && tokens.tokens.length) await useDpop()
    const now = Date.now()
    drop((t) => !alive(t, now))
    const pick = (): TokenRecord | undefined => (known && findToken(known)) || tokens.baseline(Date.now())
    const picked = pick()
    // A refresh the OP refused dropped that token: the next best goes (refreshed if need be).
    let token = stale(picked) ? ((await usable(picked)) ?? (tokens.tokens.includes(picked) ? undefined : await usable(pick()))) : picked
    /** At most one refresh per request: proactive, or upon a 401 invalid_token. */
    const refreshed = token !== picked
    // The spare copy (a tee) is what a retry sends; it costs nothing until a challenge needs it.
    const spare = request?.body ? request.clone() : undefined
    let response: Response
    if (request) {
      response = await sendWith(request, token, send)
    } else {
      // Without headers of the app's own, a plain record: fetch validates it once, where a
      // Headers object would be validated twice (here and again inside fetch).
      if (token) {
        if (headers) (headers = new Headers(headers)).set('authorization', authorizationHeader(token))
        else headers = { authorization: authorizationHeader(token) }
      }
      response = await baseFetch(url.href, headers ? { ...init, headers } : init)
    }
    /** The retry after a refresh (`stepUp` false) or a step-up; an adapter counts only the latter as the call's one. */
    const sendRetry = (with_: TokenRecord, keepSpare: boolean, stepUp = true): Promise<Response> => {
      const retry = new Request(spare ? (keepSpare ? spare.clone() : spare) : (request ??= new Request(url.href, init)))
      return sendWith(retry, with_, (r) => send(r, stepUp))
    }
    // Upon expiry (RFC 6750 invalid_token): refresh once and retry once. This retry is not the
    // step-up's: a challenge to it still gets its step-up. A second invalid_token passes through.
    if (response.status === 401 && token?.refreshToken && !refreshed && isInvalidTokenChallenge(response.headers.get('www-authenticate'))) {
      const next = await refresh(token)
      signal?.throwIfAborted()
      if (next) {
        discardBody(response)
        response = await sendRetry((token = next), true, false)
      }
    }
    // Most responses are no 401/403: spare them the (async) challenge check.
    const challenge = response.status === 401 || response.status === 403 ? await challengeOf(response, url, token !== undefined) : undefined
    signal?.throwIfAborted()
    if (!challenge) {
      discardBody(spare)
      return response
    }
    const original = (request ??= new Request(url.href, init))
    const stepUp = async (requirement: Requirement, found: StepUpChallenge): Promise<TokenRecord> => {
      const flow = queue.join(requirement, { challenge: found, force: false })
      // Redirect mode saves the first waiting request (redirect-mode.ts).
      const got = await queue.wait(flow, signal, (reason) => reason, async () => [spare ? spare.clone() : original, init?.body])
      // Another tab's token is taken while renewable: its access token may need a refresh first.
      return (await usable(got)) ?? got
    }

    // The API just said no to this token for this requirement, whatever our own check thinks.
    const requirement = refused(response, token, route, challenge)
    let next = await usable(findToken(requirement))
    const held = next !== undefined
    next ??= await stepUp(requirement, challenge)
    // An aborted request is never replayed.
    signal?.throwIfAborted()
    let retried = await sendRetry(next, held)
    let again = await challengeOf(retried, url, true)
    if (again && held) {
      // A token we already held was refused too: that was no step-up yet, so run the one this
      // request is allowed, and retry once more with what it brings.
      const demanded = refused(retried, next, route, again)
      next = await stepUp(demanded, again)
      signal?.throwIfAborted()
      retried = await sendRetry(next, false)
      again = await challengeOf(retried, url, true)
    }
    signal?.throwIfAborted()
    if (!again) return retried
    refused(retried, next, route, again)
    throw loopDetected(method, url, again)
  }

  /** Record what a route demands (latest wins; bounded) and return the requirement. */
  const remember = (route: string, requirement: Requirement): Requirement => {
    routes.delete(route)
    routes.set(route, requirement)
    if (routes.size > 256) routes.delete(routes.keys().next().value!)
    return requirement
  }
  /** The API refused `token` with `challenge` on `route`: drop the response, remember and return what it asks for. */
  const refused = (response: Response, token: TokenRecord | undefined, route: string, challenge: StepUpChallenge): Requirement => {
    discardBody(response)
    const requirement = remember(route, toRequirement(challenge))
    if (token) {
      let set = rejections.get(token)
      if (!set) rejections.set(token, (set = new Set()))
      set.add(requirementKey(requirement))
    }
    return requirement
  }

  // --- public API ----------------------------------------------------------------------------
  const authorize = async (params: AuthorizeParams = {}): Promise<void> => {
    must(params.acrValues === undefined || (Array.isArray(params.acrValues) && params.acrValues.every((v) => typeof v === 'string' && v !== '')), 'acrValues', 'an array of non-empty strings')
    const requirement = params.acrValues?.length || params.maxAge !== undefined ? toRequirement(params) : undefined
    must(params.maxAge === undefined || (Number.isInteger(params.maxAge) && params.maxAge >= 0), 'maxAge', 'a non-negative integer', params.maxAge)
    // Called (from a click) while a step-up waits for one: a "Verify it's you" button calling
    // authorize() with the challenge, or a plain sign-in, continues that step-up: its popup opens
    // inside this click, and this call resolves when it is done (it signs the user in too).
    const pendingFlow = state.status === 'pending-user-action' && waiting && (!requirement || requirementKey(requirement) === waiting.key) ? waiting : undefined
    const flow = pendingFlow ?? queue.join(requirement, { force: true })
    if (pendingFlow) state.continue?.()
    await queue.wait(flow, params.signal, (reason) => new StepUpError('aborted', 'authorize() was cancelled', { cause: reason }))
  }

  // Redirect mode, the redirect URI page and resume() are loaded only when they run
  // (src/core/redirect-mode.ts), with what they need of this client as a tuple. A chunk that
  // does not load fails every caller the same way: chunkError(), shown in the state.
  const redirectMode = () => import('./redirect-mode.js').catch((error: unknown) => Promise.reject(fail(chunkError(error))))
  const handleCallback = async (input?: string | URL): Promise<CallbackResult> => (await redirectMode()).handleCallback(host, input)
  const resume = async (): Promise<Response | undefined> => (await redirectMode()).resumeSaved(host)

  const signOut = (): void => {
    epoch++
    queue.abortAll('signed out')
    tokens.clear()
    routes.clear()
    store.save([])
    // With tabs sharing, the key goes too (every tab signs out); without, other tabs may still
    // use it for sessions of their own (docs/decisions/0004-dpop.md #4).
    if (options.shareAcrossTabs && dpop) forgetting = Promise.all([forgetting, dpop.then((d) => d.forget(), () => {})]).then(() => {})
    dpop = dpopJkt = undefined
    // A redirect step-up left half-way (Back from the OP) must not complete, or replay, after sign-out.
    for (const key of [keys.redirect, keys.resume, keys.done]) writeJson(key, undefined)
    setState({ status: 'idle', authenticated: false }, true)
  }
  const logout = (): void => {
    signOut()
    toTabs((tabs) => tabs.logout())
  }

  // --- tabs (docs/decisions/0005-tabs.md) -------------------------------------------------------
  /** Loaded only with `shareAcrossTabs: true`: a separate chunk that other apps never download. */
  // Only in a browser window: on a server (SSR) one process serves many users, and Node 20 has BroadcastChannel.
  const tabs: Promise<Tabs | undefined> | undefined = options.shareAcrossTabs && typeof document !== 'undefined'
    ? import('../tabs/share-tabs.js').then(
        (module) => module.shareTabs(`${issuer.href} ${options.clientId}`, [
          tokens, routes, refreshes, rejections,
          // A token of another tab is of use here only if it is bound as this tab binds: to the
          // same DPoP key (the origin's, from IndexedDB), or to none.
          (t, now) => alive(t, now) && (options.dpop ? !dpopJkt || t.jkt === dpopJkt : t.tokenType !== 'DPoP'),
          requirementKey, findToken, runFlow,
          (patch) => (store.save(tokens.tokens), patch ? setState(patch) : showTokens()),
          signOut,
        ]),
        () => undefined,
      )
    : undefined
  const toTabs = (use: (tabs: Tabs) => void): void => void tabs?.then((shared) => shared && use(shared))

  // What redirect mode needs of this client (declared last: it lists the functions above).
  const host: RedirectHost = [
    keys, options.redirectUri, tokens, setState, isProtected, queue, redeem, (delta) => void (callbacksInFlight += delta), fail, toStepUpError, toTabs, showTokens,
    remember, () => options.dpop && tokens.tokens.length ? useDpop() : undefined, usable, sendWith, baseFetch, challengeOf, refused, loopDetected, routeOf,
  ]

  return {
    fetch: stepUpFetch as typeof fetch,
    authorize,
    handleCallback,
    resume,
    getState: () => state,
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    logout,
  }
}

function resolveInteraction(interaction: StepUpOptions['interaction']): Interaction {
  if (interaction === undefined || interaction === 'popup') return popup()
  if (interaction === 'redirect') return redirect()
  must(typeof interaction === 'function', 'interaction', "'popup', 'redirect' or a function", interaction)
  return interaction
}

/** Release a body nobody will read (a challenged response, an unneeded spare copy). */
const discardBody = (body: Body | undefined): void => void body?.body?.cancel().catch(() => {})

/** A Request, also one from another realm (an iframe), where `instanceof` says no. */
const isRequest = (input: unknown): input is Request =>
  typeof input === 'object' && input !== null && (input instanceof Request || Object.prototype.toString.call(input) === '[object Request]')

const routeOf = (method: string, url: URL): string => `${method} ${url.origin}${url.pathname}`

const loopDetected = (method: string, url: URL, challenge: StepUpChallenge): StepUpError =>
  new StepUpError(
    'loop_detected',
    `${method} ${url.href} was challenged again after a step-up; align the API's acr and max_age rules with its challenge`,
    { challenge },
  )

/** What fetch resolves a relative URL against: the document's base URL (<base href> included), else the worker's location. */
function baseUrl(): string | undefined {
  const scope = globalThis as { document?: { baseURI?: string }; location?: Location }
  return scope.document?.baseURI ?? scope.location?.href
}

/** Settle with `promise`, or reject with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    // Handled also once aborted: its own failure no longer matters, and must not go unhandled.
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function interactionError(error: unknown, flow: Flow<TokenRecord>): StepUpError {
  if (isStepUpError(error) || flow.controller.signal.aborted) return toStepUpError(error, flow)
  if (isAbortError(error)) return new StepUpError('aborted', 'the interaction was cancelled', { cause: error, challenge: flow.challenge })
  return new StepUpError('authorization_error', `the interaction failed: ${messageOf(error)}`, { cause: error, challenge: flow.challenge })
}

/** A chunk of the SDK that import() could not load (a deploy replaced it, the network, CSP). */
const chunkError = (error: unknown, name = 'redirect-mode', code: StepUpErrorCode = 'authorization_error'): StepUpError =>
  new StepUpError(code, `the SDK's ${name} chunk did not load (${messageOf(error)}); reload the page`, { cause: error })

/** Every failure leaves as a StepUpError that carries the flow's challenge. */
function toStepUpError(error: unknown, flow: { challenge: StepUpChallenge | undefined; controller?: AbortController }): StepUpError {
  if (isStepUpError(error)) {
    if (flow.challenge && !error.challenge) Object.defineProperty(error, 'challenge', { value: flow.challenge, configurable: true })
    return error
  }
  if (flow.controller?.signal.aborted) return abortedError(flow)
  return new StepUpError('authorization_error', `the step-up failed: ${messageOf(error)}`, { cause: error, challenge: flow.challenge })
}
