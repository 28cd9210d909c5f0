import type { TokenRecord } from '../core/tokens.js'
import { parseTabMessage, type TabMessage } from './messages.js'

// Loaded by the core with a dynamic import() only when `shareAcrossTabs: true`, so apps that do
// not share pay nothing for it. Choices and their reasons: docs/decisions/0005-tabs.md.

/** What the client lends the tab sharing. */
export interface TabsHost {
  /** Take a token another tab obtained; `answer`: it came as the answer to this tab's hello. */
  adopt(token: TokenRecord, answer: boolean): void
  /** The valid tokens to hand a tab that says hello. */
  tokens(): TokenRecord[]
  /** Another tab signed out: sign out here too, without telling the others again. */
  logout(): void
}

/** Ends this tab's turn; `handedOver`: the flow got a token, which the other tabs should see before the lock. */
export type Release = (handedOver: boolean) => void

/** The tab sharing of one client (one issuer + client id). */
export interface Tabs {
  /** Tell the other tabs about a token this tab obtained. */
  publish(token: TokenRecord): void
  /** Tell the other tabs that this one signed out. */
  logout(): void
  /**
   * Wait until this tab may run a flow (it holds the Web Lock), or until a token from another
   * tab meets the requirement (`met` returns it), whichever comes first.
   * @returns The token, or the function that ends the turn.
   * @throws The signal's reason when it aborts (the lock request is withdrawn).
   */
  turn(signal: AbortSignal, met: () => TokenRecord | undefined): Promise<TokenRecord | Release>
  /** A flow that does not wait (a click's): hold the lock while it runs if nobody has it, so the other tabs wait for it. */
  hold(flow: Promise<unknown>): void
}

/** How long a new tab waits for another tab's answer to its hello before it starts a flow. */
const GREETING_MS = 100
/**
 * How long a tab that got a token keeps the lock after broadcasting it. The message and the lock
 * travel on separate channels; the waiting tabs should find the token, not the lock, first.
 */
const HANDOVER_MS = 100

/**
 * Share tokens, sign-outs and the authorization flow with the other tabs of this origin that run
 * the same client. BroadcastChannel is same-origin by construction; tokens never go anywhere else.
 *
 * @param id The issuer and client id: tabs of another client (or another OP) never mix with these.
 * @returns `undefined` where there is no BroadcastChannel.
 */
export function shareTabs(id: string, host: TabsHost): Tabs | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined
  const channel = new BroadcastChannel(`stepup-fetch:tabs:${id}`)
  // Node (tests, SSR): an open channel must not keep the process alive.
  unref(channel)
  const lockName = `stepup-fetch:flow:${id}`
  // Web Locks: every current browser, not Node 20, not some embedded webviews.
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
  /** Waiting turns, called after each token another tab handed over. */
  const arrivals = new Set<() => void>()
  let greeted!: () => void
  const greeting = new Promise<void>((resolve) => {
    greeted = resolve
    unref(setTimeout(resolve, GREETING_MS))
  })

  const post = (message: TabMessage): void => {
    try {
      channel.postMessage(message)
    } catch {
      // A closed channel or an uncloneable value: sharing is best effort, the flow goes on.
    }
  }
  const arrived = (): void => {
    for (const check of [...arrivals]) check()
  }
  channel.onmessage = (event: MessageEvent) => {
    const message = parseTabMessage(event.data)
    if (!message) return // malformed, foreign or from another version: ignored
    try {
      if (message.type === 'hello') {
        const tokens = host.tokens()
        if (tokens.length) post({ v: 1, type: 'tokens', tokens })
      } else if (message.type === 'tokens') {
        for (const token of message.tokens) host.adopt(token, true)
        greeted()
        arrived()
      } else if (message.type === 'token') {
        host.adopt(message.token, false)
        arrived()
      } else {
        host.logout()
      }
    } catch {
      // Nothing another tab sends may break this one.
    }
  }
  post({ v: 1, type: 'hello' })

  return {
    publish: (token) => post({ v: 1, type: 'token', token }),
    logout: () => post({ v: 1, type: 'logout' }),
    turn: async (signal, met) => {
      await greeting
      signal.throwIfAborted()
      const ready = met()
      if (ready) return ready
      // Without Web Locks: sharing, but no single flight between tabs.
      if (!locks) return () => {}
      return new Promise<TokenRecord | Release>((resolve, reject) => {
        const withdraw = new AbortController()
        let settled = false
        const settle = (): boolean => {
          if (settled) return false
          settled = true
          arrivals.delete(check)
          signal.removeEventListener('abort', onAbort)
          return true
        }
        const check = (): void => {
          const token = met()
          if (token && settle()) {
            withdraw.abort()
            resolve(token)
          }
        }
        const onAbort = (): void => {
          if (!settle()) return
          // An aborted request must not leave a lock request pending.
          withdraw.abort()
          reject(signal.reason)
        }
        arrivals.add(check)
        signal.addEventListener('abort', onAbort, { once: true })
        locks
          .request(lockName, { signal: withdraw.signal }, () =>
            new Promise<void>((release) => {
              // Granted after the wait already ended (a token came, or the request left): let go at once.
              if (!settle()) return release()
              resolve((handedOver) => (handedOver ? unref(setTimeout(release, HANDOVER_MS)) : release()))
            }),
          )
          .catch(() => {
            // Withdrawn (AbortError, settled already) or refused (an opaque origin): run unlocked.
            if (settle()) resolve(() => {})
          })
      })
    },
    hold: (flow) => {
      if (!locks) return
      locks
        .request(lockName, { ifAvailable: true }, (lock) =>
          lock ? flow.then(() => new Promise<void>((done) => unref(setTimeout(done, HANDOVER_MS))), () => {}) : undefined,
        )
        .catch(() => {})
    },
  }
}

/** Node's timers and channels keep the process alive unless unref'd; browsers have no unref. */
function unref(handle: unknown): void {
  ;(handle as { unref?: () => void } | undefined)?.unref?.()
}
