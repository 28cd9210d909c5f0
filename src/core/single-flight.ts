import type { StepUpChallenge } from '../challenge/types.js'
import { StepUpError } from '../errors/step-up-error.js'
import type { Requirement } from './requirement.js'
import { requirementKey } from './requirement.js'

/** One interactive step-up (or login) that any number of callers wait for. */
export interface Flow<T> {
  readonly key: string
  readonly requirement: Requirement | undefined
  readonly challenge: StepUpChallenge | undefined
  /** authorize() always interacts; a challenge flow may be met by a token another flow got. */
  force: boolean
  /**
   * Each waiting request's way to save itself for a redirect step-up. A waiter that leaves
   * (aborted) takes its own with it: an aborted request is never the one replayed.
   */
  readonly savers: Set<() => Promise<unknown>>
  readonly controller: AbortController
  /** Only waiting (for another tab's lock), not interacting: a click's flow need not queue behind it. */
  parked?: boolean
  waiters: number
  promise: Promise<T>
}

/**
 * Single flight: callers with an equal requirement share one flow; flows for different
 * requirements run one after another (one interaction at a time), so a later flow can find
 * its requirement already met by an earlier one.
 */
export class FlowQueue<T> {
  /** Whether any flow other than `except` is still pending and not cancelled. */
  declare readonly busy: (except?: Flow<T>) => boolean
  /** Join the pending flow for `requirement`, or queue a new one. */
  declare readonly join: (requirement: Requirement | undefined, options: { challenge?: StepUpChallenge | undefined; force: boolean }) => Flow<T>
  /**
   * Wait for `flow`. When `signal` fires, only this waiter leaves (rejecting with
   * `onAbort(reason)`); the flow is cancelled when no waiter is left.
   */
  declare readonly wait: (flow: Flow<T>, signal: AbortSignal | undefined, onAbort: (reason: unknown) => unknown, save?: () => Promise<unknown>) => Promise<T>
  /** Cancel every flow that has not settled (logout). */
  declare readonly abortAll: (reason: string) => void

  /**
   * The methods are closures over the queue's state (which nothing outside reads), so the
   * state's names minify.
   *
   * @param run Runs one flow (after the previous one settled).
   * @param onSettled Called after every flow settles, queued ones cancelled before running included.
   */
  constructor(run: (flow: Flow<T>) => Promise<T>, onSettled: () => void) {
    const pending = new Map<string, Flow<T>>()
    let tail: Promise<unknown> = Promise.resolve()
    /** Flows whose turn has come and that have not settled. */
    const running = new Set<Flow<T>>()
    /**
     * Every flow that has not settled, including one a click's flow displaced from `pending`
     * (a parked flow, or a queued one): logout must reach them all.
     */
    const unsettled = new Set<Flow<T>>()
    const cancelled = (flow: Flow<T>): boolean => flow.controller.signal.aborted
    const remove = (flow: Flow<T>): void => {
      running.delete(flow)
      unsettled.delete(flow)
      if (pending.get(flow.key) === flow) pending.delete(flow.key)
      try {
        onSettled()
      } catch {
        // State bookkeeping must not break the queue; listeners' own errors are reported upstream.
      }
    }

    this.busy = (except) => [...unsettled].some((flow) => flow !== except && !cancelled(flow))
    this.join = (requirement, options) => {
      const key = requirementKey(requirement)
      const existing = pending.get(key)
      // A click's flow (forced) runs now when every running flow only waits for another tab: its
      // popup must open inside the click. Those flows then take its token, or wait on after it.
      const now = options.force && running.size > 0 && [...running].every((flow) => flow.parked)
      if (existing && !cancelled(existing) && !(now && (existing.parked || !running.has(existing)))) {
        existing.force ||= options.force
        return existing
      }
      const flow = {
        key,
        requirement,
        challenge: options.challenge,
        force: options.force,
        savers: new Set(),
        controller: new AbortController(),
        waiters: 0,
      } as Flow<T>
      flow.promise = (now ? Promise.resolve() : tail).then(() => {
        if (cancelled(flow)) throw abortedError(flow)
        running.add(flow)
        return run(flow)
      })
      const settled = flow.promise.then(
        () => remove(flow),
        () => remove(flow),
      )
      // The chain must never reject, or one failure would fail every later flow.
      tail = (now ? Promise.all([tail, settled]) : settled).catch(() => {})
      pending.set(key, flow)
      unsettled.add(flow)
      return flow
    }
    this.wait = (flow, signal, onAbort, save) => {
      flow.waiters++
      if (save) flow.savers.add(save)
      return new Promise<T>((resolve, reject) => {
        let waiting = true
        const leave = (): boolean => {
          if (!waiting) return false
          waiting = false
          flow.waiters--
          if (save) flow.savers.delete(save)
          signal?.removeEventListener('abort', abort)
          return true
        }
        const abort = (): void => {
          if (!leave()) return
          reject(onAbort(signal!.reason))
          if (flow.waiters === 0) flow.controller.abort(abortedError(flow))
        }
        if (signal?.aborted) return abort()
        signal?.addEventListener('abort', abort, { once: true })
        flow.promise.then(
          (value) => leave() && resolve(value),
          (error: unknown) => leave() && reject(error),
        )
      })
    }
    this.abortAll = (reason) => {
      for (const flow of unsettled) flow.controller.abort(new StepUpError('aborted', reason, { challenge: flow.challenge }))
    }
  }
}

export function abortedError(flow: { challenge: StepUpChallenge | undefined }): StepUpError {
  return new StepUpError('aborted', 'the step-up was cancelled: no request waits for it', { challenge: flow.challenge })
}
