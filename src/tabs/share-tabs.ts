import type { StatePatch } from '../core/create-step-up.js'
import type { Requirement } from '../core/requirement.js'
import type { Flow } from '../core/single-flight.js'
import type { TokenRecord, TokenSet } from '../core/tokens.js'
import { parseTabMessage, type TabMessage } from './messages.js'

// Loaded by the core with a dynamic import() only when `shareAcrossTabs: true`, so apps that do
// not share pay nothing for it. Choices and their reasons: docs/decisions/0005-tabs.md.

/**
 * What the client lends the tab sharing: its token set and bookkeeping (create-step-up.ts). A
 * tuple, not an object: the first load then carries no property names for it
 * (docs/decisions/0007-first-load.md).
 */
export type TabsHost = [
  tokens: TokenSet,
  routes: Map<string, Requirement>,
  refreshes: WeakMap<TokenRecord, Promise<TokenRecord | undefined>>,
  rejections: WeakMap<TokenRecord, Set<string>>,
  /** Whether a token is still usable (unexpired, or renewable). Passed in, like `key`, so that this chunk imports nothing from the core's. */
  alive: (token: TokenRecord, nowMs: number) => boolean,
  /** A requirement as a key (the login's for none). */
  key: (requirement: Requirement | undefined) => string,
  /** The held token that meets a requirement (the core's own choice, refusals included). */
  find: (requirement: Requirement) => TokenRecord | undefined,
  /** Run an authorization flow in this tab. */
  run: (flow: Flow<TokenRecord>) => Promise<TokenRecord>,
  /** Save the tokens and update the state (the token snapshot when no patch is given). */
  changed: (patch?: StatePatch) => void,
  /** Another tab signed out: sign out here too, without telling the others again. */
  logout: () => void,
]

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
   * activation; it holds the lock while it runs if nobody has it, and this tab's waiting flows
   * stand aside (no lock request) until it ends.
   */
  run(flow: Flow<TokenRecord>): Promise<TokenRecord>
  /**
   * The flow now waits for a click (`'pending-user-action'`): it lets go of the lock, so that the
   * other tabs are not held up by a click that may never come, and a token another tab brings
   * meanwhile that meets its requirement ends it.
   */
  waitingForUser(flow: Flow<TokenRecord>): void
  /** This tab leaves for the OP (`true`: a redirect step-up), or its redirect callback has ended (`false`). */
  redirecting(leaving: boolean): void
  /**
   * Refresh `token` with `renew`, one tab at a time per token (a Web Lock of its own), after the
   * open tabs answered this one's hello; when another tab has rotated it meanwhile, its successor
   * (already taken from the channel) instead, without spending the refresh token again.
   */
  refresh(token: TokenRecord, renew: (token: TokenRecord) => Promise<TokenRecord | undefined>): Promise<TokenRecord | undefined>
}

/**
 * After a sign-out, tokens obtained this soon after it are leftovers of flows the logout message
 * had not reached yet (delivery between tabs takes milliseconds; a new sign-in, seconds).
 */
const LOGOUT_GRACE_MS = 1000
/** How long a new tab waits for another tab's answer to its hello before it starts a flow or a refresh. */
const GREETING_MS = 100
/**
 * How long a tab that got a token keeps the lock after broadcasting it. The message and the lock
 * travel on separate channels; the waiting tabs should find the token, not the lock, first.
 */
const HANDOVER_MS = 100
/** How long the other tabs wait for the token of a tab that left for the OP (redirect) before they run a flow of their own. */
const REDIRECT_MS = 120_000

/**
 * Share tokens, sign-outs and the authorization flow with the other tabs of this origin that run
 * the same client. BroadcastChannel is same-origin by construction; tokens never go anywhere else.
 *
 * @param id The issuer and client id: tabs of another client (or another OP) never mix with these.
 * @returns `undefined` where there is no BroadcastChannel.
 */
export function shareTabs(id: string, host: TabsHost): Tabs | undefined {
  const [tokenSet, routes, refreshes, rejections, alive, keyOf, find, runHere, changed, signOutHere] = host
  if (typeof BroadcastChannel === 'undefined') return undefined
  const channel = new BroadcastChannel(`stepup-fetch:tabs:${id}`)
  // Node (tests): an open channel must not keep the process alive.
  unref(channel)
  const lockName = `stepup-fetch:flow:${id}`
  // Web Locks: every current browser, not Node 20, not some embedded webviews.
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
  /** Checks to run after each token another tab handed over, and whenever a reason to stand aside ends. */
  const arrivals = new Set<() => void>()
  /** The lock each running flow holds (its turn, or a click's lock taken while free). */
  const holding = new Map<Flow<TokenRecord>, Release>()
  /** Flows that must not hold the lock any more (settled, or waiting for a click): a late grant is let go. */
  const letGo = new WeakSet<Flow<TokenRecord>>()
  /** Checks of flows waiting for a click, run once they wait (waitingForUser). */
  const userWaits = new Map<Flow<TokenRecord>, () => void>()
  /** Clicks' flows running in this tab: the waiting turns stand aside until they end. */
  let clicks = 0
  /** Until when a tab that left for the OP (redirect) may bring a token back, epoch ms. */
  let busyUntil = 0
  /** When this tab last signed out: a token obtained before that is a leftover, never taken. */
  let signedOutAt = 0
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
  const sameRequirement = (a: TokenRecord, b: TokenRecord): boolean => keyOf(a.requirement) === keyOf(b.requirement)
  /** A token another tab obtained: the rules of our own, and a refresh replaces its spent original in place. */
  const adopt = (record: TokenRecord, answer: boolean): void => {
    const tokens = tokenSet
    const now = Date.now()
    // Sent before the other tab heard our sign-out (a refresh, a hello answer in flight, a flow
    // that ended just before our logout reached it): not taken. A sign-in that starts after the
    // logout takes the user longer than LOGOUT_GRACE_MS at the OP.
    if (record.obtainedAt <= signedOutAt + LOGOUT_GRACE_MS || !alive(record, now)) return
    const sub = tokens.subject()
    if (sub !== undefined && sub !== record.sub) {
      // A plain sign-in as somebody else switches users here too (0001 #7); a step-up never
      // switches, and an answer to our hello never takes over a signed-in tab.
      if (answer || record.requirement) return
      tokens.clear()
      routes.clear()
    }
    const index = tokens.tokens.findIndex((t) => sameRequirement(t, record))
    // A dead token (expired with nothing to renew it) is as good as none: it blocks nothing.
    const held = index >= 0 && alive(tokens.tokens[index]!, now) ? tokens.tokens[index] : undefined
    if (held && held.authTime === record.authTime) {
      // The same authentication, refreshed in another tab (or our own, echoed): the rotated refresh
      // token replaces the spent one, and whoever holds the old record gets this one (0003 #3).
      if (record.obtainedAt <= held.obtainedAt) return
      tokens.tokens[index] = record
      if (!refreshes.has(held)) refreshes.set(held, Promise.resolve(record))
      const refused = rejections.get(held)
      if (refused) rejections.set(record, refused)
    } else if (held && (record.authTime ?? 0) <= (held.authTime ?? 0)) {
      return // ours is the newer authentication
    } else {
      tokens.add(record, sameRequirement)
    }
    changed()
  }
  const arrived = (): void => {
    for (const check of [...arrivals]) check()
  }
  const signedOut = (): void => {
    signedOutAt = Date.now()
    busyUntil = 0
  }
  channel.onmessage = (event: MessageEvent) => {
    const message = parseTabMessage(event.data)
    if (!message) return // malformed, foreign or from another version: ignored
    try {
      if (message.type === 'hello') {
        const tokens = tokenSet.tokens.filter((t) => alive(t, Date.now()))
        if (tokens.length) post({ v: 1, type: 'tokens', tokens })
      } else if (message.type === 'tokens') {
        for (const token of message.tokens) adopt(token, true)
        greeted()
        arrived()
      } else if (message.type === 'token') {
        adopt(message.token, false)
        arrived()
      } else if (message.type === 'busy') {
        // Bounded: a notice (or a script posting one) holds the other tabs up for REDIRECT_MS at most.
        const now = Date.now()
        busyUntil = Math.min(message.until, now + REDIRECT_MS)
        if (busyUntil > now) unref(setTimeout(arrived, busyUntil - now + 1))
        arrived()
      } else {
        signedOut()
        signOutHere()
      }
    } catch {
      // Nothing another tab sends may break this one.
    }
  }
  post({ v: 1, type: 'hello' })

  /** Whether this tab's waiting flows should let the others go first: a click's flow runs here, or another tab is at the OP (redirect). */
  const standAside = (): boolean => clicks > 0 || Date.now() < busyUntil
  /** Hold a granted lock until the flow ends (a little longer after a token: HANDOVER_MS). */
  const hold = (flow: Flow<TokenRecord>, release: () => void): void => {
    let done = false
    holding.set(flow, (handedOver) => {
      if (done) return
      done = true
      if (handedOver) unref(setTimeout(release, HANDOVER_MS))
      else release()
    })
  }
  /** Let go of the flow's lock (if it holds one), now or after a handover. */
  const finish = (flow: Flow<TokenRecord>, handedOver: boolean): void => {
    letGo.add(flow)
    holding.get(flow)?.(handedOver)
    holding.delete(flow)
  }

  /** Wait for this tab's turn (the lock, held on `flow`'s behalf), or for a token from another tab that `met` accepts. */
  const turn = async (flow: Flow<TokenRecord>, met: () => TokenRecord | undefined): Promise<TokenRecord | undefined> => {
    const { signal } = flow.controller
    // Only waiting: a click in this tab does not queue behind this flow (FlowQueue).
    flow.parked = true
    try {
      await greeting
      signal.throwIfAborted()
      return await new Promise<TokenRecord | undefined>((resolve, reject) => {
        let settled = false
        /** The pending lock request's withdrawal (none while standing aside). */
        let withdraw: AbortController | undefined
        const settle = (): boolean => {
          if (settled) return false
          settled = true
          arrivals.delete(check)
          signal.removeEventListener('abort', onAbort)
          return true
        }
        const ask = (): void => {
          // Without Web Locks: sharing, but no single flight between tabs.
          if (!locks) return void (settle() && resolve(undefined))
          const mine = (withdraw = new AbortController())
          locks
            .request(lockName, { signal: mine.signal }, () =>
              new Promise<void>((release) => {
                // Granted after the wait ended (a token came, the request left): let go at once.
                if (settled) return release()
                if (standAside()) {
                  // A click or a redirecting tab came first: wait for it without the lock.
                  if (withdraw === mine) withdraw = undefined
                  return release()
                }
                if (withdraw !== mine) withdraw?.abort()
                settle()
                hold(flow, release)
                resolve(undefined)
              }),
            )
            .catch(() => {
              // Withdrawn (AbortError), or refused (an opaque origin): run unlocked.
              if (withdraw === mine && !mine.signal.aborted && settle()) resolve(undefined)
            })
        }
        const check = (): void => {
          if (settled) return
          const token = met()
          if (token) {
            settle()
            withdraw?.abort()
            resolve(token)
          } else if (standAside()) {
            withdraw?.abort()
            withdraw = undefined
          } else if (!withdraw) {
            ask()
          }
        }
        const onAbort = (): void => {
          if (!settle()) return
          // An aborted request must not leave a lock request pending.
          withdraw?.abort()
          reject(signal.reason)
        }
        arrivals.add(check)
        signal.addEventListener('abort', onAbort, { once: true })
        check()
      })
    } finally {
      flow.parked = false
    }
  }

  /**
   * The outcome of a running flow. Its lock is let go when it settles; while it waits for a click,
   * a token from another tab that `met` accepts ends it (its interaction is cancelled).
   */
  const outcome = (flow: Flow<TokenRecord>, running: Promise<TokenRecord>, met?: () => TokenRecord | undefined): Promise<TokenRecord> =>
    new Promise<TokenRecord>((resolve, reject) => {
      const end = (handedOver: boolean): void => {
        finish(flow, handedOver)
        const check = userWaits.get(flow)
        if (check) arrivals.delete(check)
        userWaits.delete(flow)
      }
      /** A token from another tab that ended the wait for a click. */
      let answer: TokenRecord | undefined
      if (met) {
        userWaits.set(flow, () => {
          if (!(answer = met())) return
          end(false)
          // Close the waiting interaction: the flow ends 'aborted' (which nobody sees), answered with the token.
          flow.controller.abort()
        })
      }
      running.then(
        (record) => (end(true), resolve(record)),
        (error: unknown) => (end(false), answer ? resolve(answer) : reject(error)),
      )
    })

  return {
    publish: (token) => post({ v: 1, type: 'token', token }),
    logout: () => {
      signedOut()
      post({ v: 1, type: 'logout' })
    },
    run: async (flow) => {
      if (flow.force) {
        clicks++
        arrived() // this tab's waiting turns withdraw their lock requests
        const running = runHere(flow)
        locks
          ?.request(lockName, { ifAvailable: true }, (lock) =>
            lock && !letGo.has(flow) ? new Promise<void>((release) => hold(flow, release)) : undefined,
          )
          .catch(() => {})
        try {
          return await outcome(flow, running)
        } finally {
          clicks--
          arrived() // they take the click's token, or queue for the lock again
        }
      }
      changed({ status: 'authorizing', challenge: flow.challenge, error: undefined })
      const met = (): TokenRecord | undefined => (flow.requirement ? find(flow.requirement) : undefined)
      // Rejects with the flow's abort reason (a StepUpError) when nobody waits any more.
      const found = await turn(flow, met)
      if (found) return found
      // Our turn: runHere checks the held tokens again first (a flow another tab just finished).
      return outcome(flow, runHere(flow), met)
    },
    waitingForUser: (flow) => {
      finish(flow, false)
      const check = userWaits.get(flow)
      if (check) {
        arrivals.add(check)
        check()
      }
    },
    redirecting: (leaving) => post({ v: 1, type: 'busy', until: leaving ? Date.now() + REDIRECT_MS : 0 }),
    refresh: async (token, renew) => {
      // The open tabs' answer to our hello may carry this token's successor (a reloaded tab's
      // sessionStorage holds a refresh token another tab has spent since).
      await greeting
      /** The same authentication, rotated by another tab since (taken from the channel). */
      const successor = (): TokenRecord | undefined =>
        tokenSet.tokens.find((t) => t !== token && sameRequirement(t, token) && t.sub === token.sub && t.authTime === token.authTime && t.obtainedAt > token.obtainedAt)
      const run = (): Promise<TokenRecord | undefined> => {
        const next = successor()
        // Gone (signed out, replaced): its answer would belong to nobody; its refresh token stays unspent.
        return next || !tokenSet.tokens.includes(token) ? Promise.resolve(next) : renew(token)
      }
      if (!locks) return run()
      return new Promise<TokenRecord | undefined>((resolve) => {
        let started = false
        locks
          .request(`stepup-fetch:refresh:${id} ${keyOf(token.requirement)}`, {}, async () => {
            started = true
            const rotating = successor() === undefined
            const next = await run()
            resolve(next)
            // Our broadcast of the rotation should reach the tabs queued for this lock before it.
            if (rotating && next) await new Promise((done) => unref(setTimeout(done, HANDOVER_MS)))
          })
          .catch(() => {
            // Refused (an opaque origin): refresh unlocked.
            if (!started) void run().then(resolve)
          })
      })
    },
  }
}

/** Node's timers and channels keep the process alive unless unref'd; browsers have no unref. */
function unref(handle: unknown): void {
  ;(handle as { unref?: () => void } | undefined)?.unref?.()
}
