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
  private readonly pending = new Map<string, Flow<T>>()
  private tail: Promise<unknown> = Promise.resolve()
  /** Flows whose turn has come and that have not settled. */
  private readonly running = new Set<Flow<T>>()
  /**
   * Every flow that has not settled, including one a click's flow displaced from `pending`
   * (a parked flow, or a queued one): logout must reach them all.
   */
  private readonly unsettled = new Set<Flow<T>>()

  /**
   * @param run Runs one flow (after the previous one settled).
   * @param onSettled Called after every flow settles, queued ones cancelled before running included.
   */
  constructor(
    private readonly run: (flow: Flow<T>) => Promise<T>,
    private readonly onSettled: () => void,
  ) {}

  /** Whether any flow other than `except` is still pending and not cancelled. */
  busy(except?: Flow<T>): boolean {
    for (const flow of this.unsettled) if (flow !== except && !flow.controller.signal.aborted) return true
    return false
  }

  /** Join the pending flow for `requirement`, or queue a new one. */
  join(requirement: Requirement | undefined, options: { challenge?: StepUpChallenge | undefined; force: boolean }): Flow<T> {
    const key = requirementKey(requirement)
    const existing = this.pending.get(key)
    // A click's flow (forced) runs now when every running flow only waits for another tab: its
    // popup must open inside the click. Those flows then take its token, or wait on after it.
    const now = options.force && this.running.size > 0 && [...this.running].every((flow) => flow.parked)
    if (existing && !existing.controller.signal.aborted && !(now && (existing.parked || !this.running.has(existing)))) {
      existing.force ||= options.force
      return existing
    }
    const flow: Flow<T> = {
      key,
      requirement,
      challenge: options.challenge,
      force: options.force,
      savers: new Set(),
      controller: new AbortController(),
      waiters: 0,
      promise: undefined as unknown as Promise<T>,
    }
    flow.promise = (now ? Promise.resolve() : this.tail).then(() => {
      if (flow.controller.signal.aborted) throw abortedError(flow)
      this.running.add(flow)
      return this.run(flow)
    })
    const settled = flow.promise.then(
      () => this.remove(flow),
      () => this.remove(flow),
    )
    // The chain must never reject, or one failure would fail every later flow.
    this.tail = (now ? Promise.all([this.tail, settled]) : settled).catch(() => {})
    this.pending.set(key, flow)
    this.unsettled.add(flow)
    return flow
  }

  /**
   * Wait for `flow`. When `signal` fires, only this waiter leaves (rejecting with
   * `onAbort(reason)`); the flow is cancelled when no waiter is left.
   */
  wait(flow: Flow<T>, signal: AbortSignal | undefined, onAbort: (reason: unknown) => unknown, save?: () => Promise<unknown>): Promise<T> {
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

  /** Cancel every flow that has not settled (logout). */
  abortAll(reason: string): void {
    for (const flow of this.unsettled) flow.controller.abort(new StepUpError('aborted', reason, { challenge: flow.challenge }))
  }

  private remove(flow: Flow<T>): void {
    this.running.delete(flow)
    this.unsettled.delete(flow)
    if (this.pending.get(flow.key) === flow) this.pending.delete(flow.key)
    try {
      this.onSettled()
    } catch {
      // State bookkeeping must not break the queue; listeners' own errors are reported upstream.
    }
  }
}

export function abortedError(flow: { challenge: StepUpChallenge | undefined }): StepUpError {
  return new StepUpError('aborted', 'step-up cancelled: no request waits for it', { challenge: flow.challenge })
}
