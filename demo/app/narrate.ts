// What every demo page shares: the SDK client, narrated. Everything the SDK does shows up in
// "What happened", from three places the SDK lets an app see into: the `fetch` option (every
// request it sends), the `interaction` option (the trip to the OP) and subscribe() (status, the
// verified acr and auth_time, diagnostics). Pages add their own results and errors.
import { isStepUpError, popup, readStepUpChallenge, redirect, type Interaction, type PopupOptions, type StepUp, type StepUpState } from 'stepup-fetch'
import { ACR_LABELS, config, createClient } from './client.js'
import { acrLabel, ago, shortAcr } from './format.js'
import { loadEvents, saveEvents, type EventKind, type TimelineEvent } from './timeline.js'

export { acrLabel, ago, shortAcr }

export type Mode = 'popup' | 'redirect'

/** How the step-up opens; kept per tab (the redirect comes back to it). */
export function currentMode(): Mode {
  return sessionStorage.getItem('demo:mode') === 'redirect' ? 'redirect' : 'popup'
}

// --- the timeline -----------------------------------------------------------------------------
let events: TimelineEvent[] = loadEvents()

export function addEvent(kind: EventKind, title: string, extra: Partial<Omit<TimelineEvent, 'kind' | 'title' | 'at'>> = {}): void {
  events.push({ kind, title, ...extra, at: Date.now() })
  saveEvents(events)
  renderTimeline()
}

export function clearEvents(): void {
  events = []
  saveEvents(events)
  renderTimeline()
}

/** Shows the stored timeline and wires its Clear button. */
export function initTimeline(): void {
  renderTimeline()
  document.getElementById('clear')?.addEventListener('click', clearEvents)
}

/** The session panel's words for each status. */
export const STATUS_LABELS: Record<StepUpState['status'], (authenticated: boolean) => string> = {
  idle: (authenticated) => (authenticated ? 'Ready' : 'Idle'),
  authorizing: () => 'Verifying…',
  'pending-user-action': () => 'Waiting for your click',
  error: () => 'Last step-up failed',
}

/** Renders into `#timeline` (and toggles `#timeline-empty`) when the page has them. */
export function renderTimeline(): void {
  const list = document.getElementById('timeline')
  if (!list) return
  list.replaceChildren(
    ...events.map((event) => {
      const item = document.createElement('li')
      item.className = `event ${event.kind}`
      item.dataset.kind = event.kind
      if (event.errorCode) item.dataset.code = event.errorCode
      const time = document.createElement('time')
      time.textContent = new Date(event.at).toLocaleTimeString()
      const title = document.createElement('p')
      title.className = 'event-title'
      title.textContent = event.title
      item.append(time, title)
      if (event.errorCode) {
        const badge = document.createElement('span')
        badge.className = 'badge'
        badge.textContent = event.errorCode
        title.prepend(badge, ' ')
      }
      if (event.detail) item.append(Object.assign(document.createElement('p'), { className: 'event-detail', textContent: event.detail }))
      if (event.code) item.append(Object.assign(document.createElement('pre'), { textContent: event.code }))
      return item
    }),
  )
  const empty = document.getElementById('timeline-empty')
  if (empty) empty.hidden = events.length > 0
  list.lastElementChild?.scrollIntoView({ block: 'nearest' })
}

// --- what the SDK sends and receives ------------------------------------------------------------
const apiOrigin = new URL(config.api).origin

function describeToken(authorization: string | null): string {
  if (!authorization) return 'no token'
  try {
    const payload = JSON.parse(atob(authorization.split(' ')[1]!.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { acr?: string; auth_time?: number }
    return `a token with acr ${shortAcr(payload.acr)}, authenticated ${ago(payload.auth_time)}`
  } catch {
    return 'a token'
  }
}

/**
 * Requests (method + path) whose last answer was a step-up challenge: the SDK's next request to
 * it is the retry. Forgotten when a step-up fails (nothing is retried then) and when the page
 * starts a new action (see {@link newAction}).
 */
const challenged = new Set<string>()

/** Call when the user starts something: a request sent from now on is not the SDK's retry. */
export function newAction(): void {
  challenged.clear()
}

/** The fetch under the SDK: narrates API calls and the token request, changes nothing. */
const narratingFetch: typeof fetch = async (input, init) => {
  const request = input instanceof Request ? input : undefined
  const url = new URL(request ? request.url : String(input), location.href)
  const method = (request?.method ?? init?.method ?? 'GET').toUpperCase()
  const key = `${method} ${url.pathname}`
  if (url.origin === apiOrigin) {
    const authorization = request ? request.headers.get('authorization') : new Headers(init?.headers).get('authorization')
    const retry = challenged.delete(key)
    const hasBody = (request ? request.body : init?.body) != null
    addEvent('request', retry ? `Retrying once: ${key}` : key, { detail: `Sent with ${describeToken(authorization)}${retry && hasBody ? ', the same body bytes' : ''}.` })
  } else if (method === 'POST' && url.pathname.endsWith('/token')) {
    addEvent('step', 'Exchanging the authorization code for tokens (PKCE)')
  }
  const response = await fetch(input, init)
  if (url.origin === apiOrigin && response.status === 401 && (await narrateChallenge(response))) challenged.add(key)
  return response
}

/** Tells what a 401 asked for; true when it was a step-up challenge. */
async function narrateChallenge(response: Response): Promise<boolean> {
  const header = response.headers.get('www-authenticate')
  const challenge = await readStepUpChallenge(response).catch(() => null)
  if (challenge) {
    const wants = [challenge.acrValues.length ? `acr ${challenge.acrValues.map(shortAcr).join(' or ')}` : 'a new sign-in', challenge.maxAge !== undefined ? `authenticated within ${challenge.maxAge} s` : '']
    addEvent('challenge', `401: the API asks for a step-up`, {
      detail: `It wants ${wants.filter(Boolean).join(', ')}.${header === null ? ' Read from the JSON body: the browser hides WWW-Authenticate because the API does not expose it over CORS.' : ''}`,
      code: header ?? '(no readable WWW-Authenticate; challenge taken from the JSON body)',
    })
    return true
  }
  addEvent('info', '401 without a readable step-up challenge', { code: header ?? '(no readable WWW-Authenticate header)' })
  return false
}

/** The built-in interaction for the current mode, narrated. */
function narratedInteraction(popupOptions: PopupOptions, modeOf: () => Mode): Interaction {
  const popupInteraction = popup(popupOptions)
  const redirectInteraction = redirect()
  return (authorizationUrl, ctx) => {
    const mode = modeOf()
    const asked = authorizationUrl.searchParams
    const acr = asked.get('acr_values')
    const maxAge = asked.get('max_age')
    const what = acr ? acr.split(' ').map((value) => ACR_LABELS[value] ?? value).join(' or ') : 'a sign-in'
    addEvent('step', `${mode === 'popup' ? 'Opening a popup' : 'Redirecting'} to the OP for ${what}`, {
      detail: 'Authorization code flow with PKCE, state and nonce.',
      code: [acr && `acr_values=${acr}`, maxAge !== null && `max_age=${maxAge}`, `code_challenge_method=${asked.get('code_challenge_method')}`].filter(Boolean).join('\n'),
    })
    return (mode === 'popup' ? popupInteraction : redirectInteraction)(authorizationUrl, ctx)
  }
}

/**
 * The page's client: narrated requests, interaction and state changes.
 * @param popupOptions for the popup interaction
 * @param fixedMode always this interaction; by default the page's popup/redirect switch decides
 */
export function createNarratedClient(popupOptions: PopupOptions = {}, fixedMode?: Mode): StepUp {
  const modeOf = fixedMode ? () => fixedMode : currentMode
  const stepUp = createClient({ interaction: narratedInteraction(popupOptions, modeOf), fetch: narratingFetch })
  let previous: StepUpState = stepUp.getState()
  /** The challenge of the flow in progress (the state drops it when the flow ends). */
  let wanted: StepUpState['challenge']
  stepUp.subscribe(() => {
    const state = stepUp.getState()
    if (state.status === 'authorizing' && previous.status !== 'authorizing') wanted = state.challenge ?? wanted
    if (state.status === 'pending-user-action' && previous.status !== 'pending-user-action') {
      wanted = state.challenge
      addEvent('warning', 'The browser would block a popup now: waiting for a click on "Verify it\'s you"', { detail: 'popup({ fallback: "user-action" }): the request waits; continue() opens the popup from the click.' })
    }
    if (previous.status === 'authorizing' && state.status === 'idle' && state.authenticated) {
      addEvent('success', `Verified by stepup-fetch: ${acrLabel(state.acr)}`, {
        detail: `The ID token says acr ${shortAcr(state.acr)}, authenticated ${ago(state.authTime)}${wanted ? `; the API asked for ${wanted.acrValues.map(shortAcr).join(' or ') || 'any acr'}${wanted.maxAge !== undefined ? ` within ${wanted.maxAge} s` : ''}` : ''}.`,
      })
      wanted = undefined
    }
    if (state.diagnostic && state.diagnostic !== previous.diagnostic) {
      addEvent('warning', 'The API challenged, but the browser hid the challenge', { errorCode: state.diagnostic.code, detail: state.diagnostic.message })
    }
    previous = state
  })
  // For your console: demo.stepUp.getState(), demo.stepUp.fetch(…).
  Object.assign(window, { demo: { stepUp, config } })
  return stepUp
}

// --- errors and results -----------------------------------------------------------------------
const ERROR_TITLES: Record<string, string> = {
  acr_not_satisfied: 'The OP answered with a lower assurance than the API asked for',
  max_age_exceeded: 'The sign-in is older than the API allows',
  subject_mismatch: 'A different person signed in',
  loop_detected: 'The API refused the token it asked for: stopped after one retry',
  popup_blocked: 'The browser blocked the popup',
  popup_closed: 'The popup was closed before the sign-in finished',
  unmet_authentication_requirements: 'The OP cannot reach that level for this user',
  authorization_error: 'The OP answered with an error',
  aborted: 'The step-up was cancelled',
}

/** Shows a failure in the timeline. */
export function narrateError(error: unknown): void {
  challenged.clear()
  if (!isStepUpError(error)) {
    addEvent('error', 'The request failed', { detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
    return
  }
  // loop_detected: the one retry happened and was refused again; anything else: no retry at all.
  const outcome = error.code === 'loop_detected' ? 'No further attempt.' : 'Nothing was retried.'
  addEvent('error', `${ERROR_TITLES[error.code] ?? 'The step-up failed'}. ${outcome}`, { errorCode: error.code, detail: error.message })
}

/** Shows an API answer in the timeline. */
export function narrateResponse(path: string, status: number, body: Record<string, unknown>): void {
  const ok = status >= 200 && status < 300
  addEvent(ok ? 'success' : 'error', `${path}: ${status}${ok ? ' OK' : ''}`, ok && path === '/api/transfer' ? { detail: `Accepted with acr ${shortAcr(String(body.acr))}.` } : {})
}
