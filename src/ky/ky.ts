import ky, { TimeoutError, type Hooks, type KyInstance, type Options } from 'ky'
import { viaExchange, type Exchange, type ExchangeInit } from '../core/exchange.js'
import { readStepUpChallenge, StepUpError, type StepUp } from '../index.js'

/** ky's own default `timeout`, per attempt. */
const KY_DEFAULT_TIMEOUT = 10_000
/** setTimeout's ceiling; ky rejects larger timeouts with the same RangeError. */
const MAX_TIMEOUT = 2_147_483_647

/**
 * ky hooks that send every request through `stepUp.fetch`: the token goes only to the client's
 * `protect`ed URLs, and an RFC 9470 challenge becomes one verified step-up and one retry (with
 * the same body, POST included).
 *
 * ky's `timeout` (10 s by default, per call or per instance) keeps timing each HTTP exchange
 * (the request, and the retry) and each body read (`.json()`, `.text()`, ... from the call on),
 * but not the step-up between them: a user may take a minute at the OP. A timeout rejects with
 * ky's `TimeoutError`, as before. `throwHttpErrors`, `retry` and the other hooks behave as they
 * do without this integration; a failed step-up rejects with the `StepUpError` (ky does not
 * retry it), and a challenge to a ky retry of a call that already stepped up rejects with
 * `loop_detected` (one step-up per ky call). `totalTimeout`, when you set it, still bounds
 * everything, the step-up included. An `init` hook added by a later `extend()` that sets
 * `timeout` or `fetch` sets the per-exchange timeout or the fetch underneath the SDK; a later
 * `stepUpHooks(otherClient)` replaces the client.
 *
 * @param stepUp The client from `createStepUp()`.
 * @returns `{ init: [hook] }`, for `ky.create({ hooks })` or `instance.extend({ hooks })`.
 * @example
 * ```ts
 * import ky from 'ky'
 * import { stepUpHooks } from 'stepup-fetch/ky'
 *
 * const api = ky.create({ prefix: 'https://api.example.com', hooks: stepUpHooks(stepUp) })
 * await api.post('transfer', { json: { amount: 10 } }).json()
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function stepUpHooks(stepUp: StepUp): Hooks {
  if (typeof stepUp?.fetch !== 'function') {
    throw Object.assign(new TypeError('stepUpHooks(stepUp) needs the client from createStepUp()'), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  // `init` hooks see each call's merged options (a fresh object per call) and may change them.
  const init = (options: Options): void => {
    const existing = calls.get(options)
    if (existing) {
      // Extended again with stepUpHooks: wrap once; a different client, added later, wins.
      existing.stepUp = stepUp
      return
    }
    const call: KyCall = { stepUp, timeout: options.timeout ?? KY_DEFAULT_TIMEOUT, underlying: options.fetch, answered: undefined }
    const fetch = (input: Request | URL | string, extra?: RequestInit): Promise<Response> => callFetch(call, input, extra)
    calls.set(options, call)
    // ky reads these once, after every init hook. An app's init hook that runs after ours (added
    // by a later extend()) sets them through the accessors: its timeout becomes the per-exchange
    // timeout and its fetch the one underneath the SDK, instead of undoing the integration.
    Object.defineProperties(options, {
      // ky would time the whole stepUp.fetch (step-up included); the exchange times each request instead.
      timeout: { enumerable: true, get: () => false, set: (value?: number | false) => void (call.timeout = value ?? KY_DEFAULT_TIMEOUT) },
      fetch: { enumerable: true, get: () => fetch, set: (value?: typeof globalThis.fetch) => void (call.underlying = value === fetch ? call.underlying : value) },
    })
  }
  return { init: [init] }
}

/** One ky call (ky runs the `init` hooks once per call): what the exchanges of its attempts use. */
interface KyCall {
  stepUp: StepUp
  /** ky's `timeout` for this call, applied to each exchange and each body read. */
  timeout: number | false
  /** The app's own `fetch`, if any; the SDK sends through it. */
  underlying: typeof fetch | undefined
  /** The URL an earlier attempt (ky retries) answered a challenge for, with a step-up or a held token. */
  answered: string | undefined
  /** The client's fetch, for an app `fetch` that calls back into ours. */
  base?: (request: Request) => Promise<Response>
}
const calls = new WeakMap<Options, KyCall>()
/** Requests handed to an app's `fetch`: if it passes one back to ours, it goes straight out. */
const handedDown = new WeakSet<Request>()
let handingDown: KyCall | undefined

/** The `fetch` ky calls for each attempt of one call. */
function callFetch(call: KyCall, input: Request | URL | string, extra?: RequestInit): Promise<Response> {
  // An app init hook that wrapped `options.fetch` (ours) and set the wrapper: it is underneath us.
  if (call.base && (handingDown === call || (input instanceof Request && handedDown.has(input)))) return call.base(new Request(input, extra))
  if (typeof call.timeout === 'number' && call.timeout > MAX_TIMEOUT) return Promise.reject(new RangeError(`The \`timeout\` option cannot be greater than ${MAX_TIMEOUT}`))
  const retryOf = call.answered
  const exchange: Exchange = async (request, send, stepUpRetry) => {
    call.base = send
    // Only a step-up's retry answers the call's challenge; a refresh's or a DPoP nonce's does not.
    if (stepUpRetry) call.answered = request.url
    const { underlying } = call
    const response = await timed(request, call.timeout, (r) => (underlying ? handDown(call, r, underlying, extra) : send(r, extra)))
    // ky retried (a 5xx, a network error) a call whose earlier attempt already answered a
    // challenge: the core sees a new request, but one step-up per call is the rule. Any send of
    // the new attempt but its own step-up retry counts (its first, or one after a refresh or a
    // DPoP nonce).
    if (!stepUpRetry && retryOf === request.url && (response.status === 401 || response.status === 403)) {
      const challenge = await readStepUpChallenge(response)
      if (challenge) {
        void response.body?.cancel().catch(() => {})
        throw new StepUpError('loop_detected', `${request.method} ${request.url} was challenged again when ky retried it after a step-up; the API does not accept the new token (check that its acr and max_age rules match the challenge it sends)`, { challenge })
      }
    }
    return response
  }
  const withExchange: ExchangeInit = { ...extra, [viaExchange]: exchange }
  return call.stepUp.fetch(input, withExchange)
}

/** Send through the app's own fetch with ky's extra `fetch` arguments (e.g. a `dispatcher`). */
function handDown(call: KyCall, request: Request, underlying: typeof fetch, extra: RequestInit | undefined): Promise<Response> {
  handedDown.add(request)
  handingDown = call
  try {
    return underlying(request, extra)
  } finally {
    handingDown = undefined
  }
}

/**
 * A ky instance whose requests step up through `stepUp` (see {@link stepUpHooks}): tokens only
 * for `protect`ed URLs, one verified step-up and one retry per challenge, ky's timeout per
 * exchange but never across the step-up, and ky's `throwHttpErrors` for everything else.
 *
 * @param stepUp The client from `createStepUp()`.
 * @param options ky options (`prefix`, `timeout`, `retry`, `hooks`, ...), as for `ky.create()`.
 * @returns The ky instance.
 * @example
 * ```ts
 * import { createStepUp } from 'stepup-fetch'
 * import { createStepUpKy } from 'stepup-fetch/ky'
 *
 * const stepUp = createStepUp({ issuer, clientId, redirectUri, protect: ['https://api.example.com'] })
 * const api = createStepUpKy(stepUp, { prefix: 'https://api.example.com' })
 * const receipt = await api.post('transfer', { json: { to: 'bob', amount: 10 } }).json()
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function createStepUpKy(stepUp: StepUp, options: Options = {}): KyInstance {
  const { init = [], ...hooks } = options.hooks ?? {}
  // Ours runs last, so it sees the timeout and fetch that the app's own init hooks chose.
  return ky.create({ ...options, hooks: { ...hooks, init: [...init, ...stepUpHooks(stepUp).init!] } })
}

/**
 * Send one request, rejecting with ky's TimeoutError (and aborting it) after `timeout` ms; the
 * response's body methods (`json()`, `text()`, ...) get the same bound from the moment they are
 * called, as ky gives its own `.json()` and friends.
 */
function timed(request: Request, timeout: number | false, send: (request: Request) => Promise<Response>): Promise<Response> {
  if (timeout === false) return send(request)
  const controller = new AbortController()
  const attempt = new Request(request, { signal: AbortSignal.any([request.signal, controller.signal]) })
  const timeOut = (): Error => {
    controller.abort()
    return new TimeoutError(request)
  }
  return within(send(attempt), timeout, timeOut).then((response) => boundBodyReads(response, timeout, timeOut))
}

/** ky turns its timeout on for body reads (`#raceBodyRead`); with it off, this does the same. */
const bodyMethods = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text'] as const

function boundBodyReads(response: Response, timeout: number, timeOut: () => Error): Response {
  for (const name of bodyMethods) {
    const read = response[name] as (() => Promise<unknown>) | undefined
    if (typeof read !== 'function') continue
    Object.defineProperty(response, name, { configurable: true, writable: true, value: () => within(read.call(response), timeout, timeOut) })
  }
  return response
}

/** Settle with `promise`, or reject with `timeOut()` after `timeout` ms. */
function within<T>(promise: Promise<T>, timeout: number, timeOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeOut()), timeout)
    promise.then(resolve, reject).finally(() => clearTimeout(timer))
  })
}
