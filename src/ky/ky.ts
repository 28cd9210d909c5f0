import ky, { TimeoutError, type Hooks, type KyInstance, type Options } from 'ky'
import { viaExchange, type Exchange, type ExchangeInit } from '../core/exchange.js'
import type { StepUp } from '../index.js'

/** ky's own default `timeout`, per attempt. */
const KY_DEFAULT_TIMEOUT = 10_000
/** setTimeout's ceiling; ky rejects larger timeouts with the same RangeError. */
const MAX_TIMEOUT = 2_147_483_647
/** Marks a `fetch` this module installed, so a ky instance extended twice is wrapped once. */
const installed = new WeakSet<object>()

/**
 * ky hooks that send every request through `stepUp.fetch`: the token goes only to the client's
 * `protect`ed URLs, and an RFC 9470 challenge becomes one verified step-up and one retry (with
 * the same body, POST included).
 *
 * ky's `timeout` (10 s by default, per call or per instance) keeps timing each HTTP exchange
 * (the request, and the retry) but not the step-up between them: a user may take a minute at
 * the OP. A timed-out exchange rejects with ky's `TimeoutError`, as before. `throwHttpErrors`,
 * `retry` and the other hooks behave as they do without this integration; a failed step-up
 * rejects with the `StepUpError` (ky does not retry it). `totalTimeout`, when you set it, still
 * bounds everything, the step-up included.
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
  // `init` hooks see each call's merged options and may change them for that call only.
  const init = (options: Options): void => {
    if (options.fetch && installed.has(options.fetch)) return
    const timeout = options.timeout ?? KY_DEFAULT_TIMEOUT
    if (typeof timeout === 'number' && timeout > MAX_TIMEOUT) throw new RangeError(`The \`timeout\` option cannot be greater than ${MAX_TIMEOUT}`)
    const underlying = options.fetch
    const exchange: Exchange = (request, send) => timed(request, timeout, underlying ? (r) => underlying(r) : send)
    // ky would time the whole stepUp.fetch (step-up included); the exchange times each request instead.
    options.timeout = false
    const fetch = (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
      const withExchange: ExchangeInit = { ...init, [viaExchange]: exchange }
      return stepUp.fetch(input, withExchange)
    }
    installed.add(fetch)
    options.fetch = fetch
  }
  return { init: [init] }
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

/** Send one request, rejecting with ky's TimeoutError (and aborting it) after `timeout` ms. */
function timed(request: Request, timeout: number | false, send: (request: Request) => Promise<Response>): Promise<Response> {
  if (timeout === false) return send(request)
  const controller = new AbortController()
  const attempt = new Request(request, { signal: AbortSignal.any([request.signal, controller.signal]) })
  return new Promise<Response>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort()
      reject(new TimeoutError(request))
    }, timeout)
    send(attempt)
      .then(resolve, reject)
      .finally(() => clearTimeout(timer))
  })
}
