import type { StepUpState } from '../core/create-step-up.js'
import type { Requirement } from '../core/requirement.js'
import type { Flow } from '../core/single-flight.js'
import type { TokenRecord, TokenSet } from '../core/tokens.js'
import { parseTabMessage, type TabMessage } from './messages.js'

// Loaded by the core with a dynamic import() only when `shareAcrossTabs: true`, so apps that do
// not share pay nothing for it. Choices and their reasons: docs/decisions/0005-tabs.md.

/** What the client lends the tab sharing: its token set and bookkeeping (create-step-up.ts). */
export interface TabsHost {
  tokens: TokenSet
  routes: Map<string, Requirement>
  refreshes: WeakMap<TokenRecord, Promise<TokenRecord | undefined>>
  rejections: WeakMap<TokenRecord, Set<string>>
  /** Whether a token is still usable (unexpired, or renewable). Passed in, like `key`, so that this chunk imports nothing from the core's. */
  alive(token: TokenRecord, nowMs: number): boolean
  /** A requirement as a key (the login's for none). */
  key(requirement: Requirement | undefined): string
  /** The held token that meets a requirement (the core's own choice, refusals included). */
  find(requirement: Requirement): TokenRecord | undefined
  /** Run an authorization flow in this tab. */
  run(flow: Flow<TokenRecord>): Promise<TokenRecord>
  /** Save the tokens and update the state (the token snapshot when no patch is given). */
  changed(patch?: { [K in keyof StepUpState]?: StepUpState[K] | undefined }): void
  /** Another tab signed out: sign out here too, without telling the others again. */
  logout(): void
}

/** Ends this tab's turn; `handedOver`: the flow got a token, which the other tabs should see before the lock. */
type Release = (handedOver: boolean) => void

/** The tab sharing of one client (one issuer + client id). */
export interface Tabs {
  /** Tell the other tabs about a token this tab obtained. */
  publish(token: TokenRecord): void
  /** Tell the other tabs that this one signed out. */
  logout(): void
  /**
   * Run a flow, one between tabs: a challenge's flow waits for this tab's turn (the Web Lock), and
   * a token another tab hands over meanwhile that meets the requirement ends the wait. A click's
   * flow (`authorize()`, forced) never waits, or its popup would open outside the click's
   * activation; it holds the lock while it runs if nobody has it.
   */
  run(flow: Flow<TokenRecord>): Promise<TokenRecord>
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
  const sameRequirement = (a: TokenRecord, b: TokenRecord): boolean => host.key(a.requirement) === host.key(b.requirement)
  /** A token another tab obtained: the rules of our own, and a refresh replaces its spent original in place. */
  const adopt = (record: TokenRecord, answer: boolean): void => {
    const { tokens } = host
    if (!host.alive(record, Date.now())) return
    const sub = tokens.subject()
    if (sub !== undefined && sub !== record.sub) {
      // A plain sign-in as somebody else switches users here too (0001 #7); a step-up never
      // switches, and an answer to our hello never takes over a signed-in tab.
      if (answer || record.requirement) return
      tokens.clear()
      host.routes.clear()
    }
    const index = tokens.tokens.findIndex((t) => sameRequirement(t, record))
    const held = tokens.tokens[index]
    if (held && held.authTime === record.authTime) {
      // The same authentication, refreshed in another tab (or our own, echoed): the rotated refresh
      // token replaces the spent one, and whoever holds the old record gets this one (0003 #3).
      if (record.obtainedAt <= held.obtainedAt) return
      tokens.tokens[index] = record
      if (!host.refreshes.has(held)) host.refreshes.set(held, Promise.resolve(record))
      const refused = host.rejections.get(held)
      if (refused) host.rejections.set(record, refused)
    } else if (held && (record.authTime ?? 0) <= (held.authTime ?? 0)) {
      return // ours is the newer authentication
    } else {
      tokens.add(record, sameRequirement)
    }
    host.changed()
  }
  const arrived = (): void => {
    for (const check of [...arrivals]) check()
  }
  channel.onmessage = (event: MessageEvent) => {
    const message = parseTabMessage(event.data)
    if (!message) return // malformed, foreign or from another version: ignored
    try {
      if (message.type === 'hello') {
        const tokens = host.tokens.tokens.filter((t) => host.alive(t, Date.now()))
        if (tokens.length) post({ v: 1, type: 'tokens', tokens })
      } else if (message.type === 'tokens') {
        for (const token of message.tokens) adopt(token, true)
        greeted()
        arrived()
      } else if (message.type === 'token') {
        adopt(message.token, false)
        arrived()
      } else {
        host.logout()
      }
    } catch {
      // Nothing another tab sends may break this one.
    }
  }
  post({ v: 1, type: 'hello' })

  /** Wait for this tab's turn (the lock), or for a token from another tab that `met` accepts. */
  const turn = async (signal: AbortSignal, met: () => TokenRecord | undefined): Promise<TokenRecord | Release> => {
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
  }

  return {
    publish: (token) => post({ v: 1, type: 'token', token }),
    logout: () => post({ v: 1, type: 'logout' }),
    run: async (flow) => {
      if (flow.force) {
        const running = host.run(flow)
        locks
          ?.request(lockName, { ifAvailable: true }, (lock) =>
            lock ? running.then(() => new Promise<void>((done) => unref(setTimeout(done, HANDOVER_MS))), () => {}) : undefined,
          )
          .catch(() => {})
        return running
      }
      host.changed({ status: 'authorizing', challenge: flow.challenge, error: undefined })
      // Rejects with the flow's abort reason (a StepUpError) when nobody waits any more.
      const found = await turn(flow.controller.signal, () => (flow.requirement ? host.find(flow.requirement) : undefined))
      if (typeof found !== 'function') return found
      // Our turn: host.run checks the held tokens again first (a flow another tab just finished).
      return host.run(flow).then(
        (record) => (found(true), record),
        (error: unknown) => {
          found(false)
          throw error
        },
      )
    },
  }
}

/** Node's timers and channels keep the process alive unless unref'd; browsers have no unref. */
function unref(handle: unknown): void {
  ;(handle as { unref?: () => void } | undefined)?.unref?.()
}
