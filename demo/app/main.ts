// The demo SPA: a small bank page whose API calls all go through stepUp.fetch(). Everything the
// SDK does is narrated in "What happened", from three places the SDK lets an app see into:
// the `fetch` option (every request it sends), the `interaction` option (the trip to the OP) and
// subscribe() (status, the verified acr and auth_time, errors, diagnostics).
import { isStepUpError, popup, readStepUpChallenge, redirect, type Interaction, type StepUpError, type StepUpState } from 'stepup-fetch'
import { ACR_LABELS, config, createClient } from './client.js'
import { loadEvents, saveEvents, type EventKind, type TimelineEvent } from './timeline.js'

type Mode = 'popup' | 'redirect'
/** How the step-up opens; kept per tab (the redirect comes back to it). */
let mode: Mode = sessionStorage.getItem('demo:mode') === 'redirect' ? 'redirect' : 'popup'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

// --- the timeline -----------------------------------------------------------------------------
let events: TimelineEvent[] = loadEvents()

function addEvent(kind: EventKind, title: string, extra: Partial<Omit<TimelineEvent, 'kind' | 'title' | 'at'>> = {}): void {
  events.push({ kind, title, ...extra, at: Date.now() })
  saveEvents(events)
  renderTimeline()
}

function renderTimeline(): void {
  const list = $('timeline')
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
  $('timeline-empty').hidden = events.length > 0
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

/** The fetch under the SDK: narrates API calls and the token request, changes nothing. */
const narratingFetch: typeof fetch = async (input, init) => {
  const request = input instanceof Request ? input : undefined
  const url = new URL(request ? request.url : String(input), location.href)
  const method = (request?.method ?? init?.method ?? 'GET').toUpperCase()
  const key = `${method} ${url.pathname}`
  if (url.origin === apiOrigin) {
    const authorization = request ? request.headers.get('authorization') : new Headers(init?.headers).get('authorization')
    const retry = challenged.delete(key)
    addEvent('request', retry ? `Retrying once: ${key}` : key, { detail: `Sent with ${describeToken(authorization)}${retry ? ', the same body bytes' : ''}.` })
  } else if (method === 'POST' && url.pathname.endsWith('/token')) {
    addEvent('step', 'Exchanging the authorization code for tokens (PKCE)')
  }
  const response = await fetch(input, init)
  if (url.origin === apiOrigin && response.status === 401 && (await narrateChallenge(response))) challenged.add(key)
  return response
}

/** Requests (method + path) whose last answer was a step-up challenge: the next one is the retry. */
const challenged = new Set<string>()

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

/** The interaction: the chosen built-in one, narrated. */
const popupInteraction = popup()
const redirectInteraction = redirect()
const interaction: Interaction = (authorizationUrl, ctx) => {
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

const stepUp = createClient({ interaction, fetch: narratingFetch })

// --- the session panel ------------------------------------------------------------------------
function shortAcr(acr: string | undefined): string {
  return acr ? (acr.split(':').pop() ?? acr) : 'none'
}

function ago(epochSeconds: number | undefined): string {
  if (epochSeconds === undefined) return 'at an unknown time'
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - epochSeconds))
  return seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

function renderSession(state: StepUpState): void {
  $('sub').textContent = state.authenticated ? (state.sub ?? '—') : 'Signed out'
  const acr = $('acr')
  acr.textContent = state.acr ? `${ACR_LABELS[state.acr] ?? state.acr}` : '—'
  acr.dataset.acr = state.acr ?? ''
  acr.title = state.acr ?? ''
  $('auth-time').textContent = state.authTime ? `${new Date(state.authTime * 1000).toLocaleTimeString()} (${ago(state.authTime)})` : '—'
  const labels: Record<StepUpState['status'], string> = { idle: state.authenticated ? 'Ready' : 'Idle', authorizing: 'Verifying…', 'pending-user-action': 'Waiting for your click', error: 'Last step-up failed' }
  $('status').textContent = labels[state.status]
  $('status').dataset.status = state.status
  $('sign-in').hidden = state.authenticated
  $('sign-out').hidden = !state.authenticated
  for (const id of ['show-balance', 'transfer', 'loop']) {
    const button = $<HTMLButtonElement>(id)
    button.disabled = !state.authenticated
    button.title = state.authenticated ? '' : 'Sign in first'
  }
  $('pending').hidden = state.status !== 'authorizing' || mode !== 'popup'
  document.body.classList.toggle('busy', state.status === 'authorizing')
}

let previous: StepUpState = stepUp.getState()
/** The challenge of the flow in progress (the state drops it when the flow ends). */
let wanted: StepUpState['challenge']
stepUp.subscribe(() => {
  const state = stepUp.getState()
  if (state.status === 'authorizing' && previous.status !== 'authorizing') wanted = state.challenge
  if (previous.status === 'authorizing' && state.status === 'idle' && state.authenticated) {
    addEvent('success', `Verified by stepup-fetch: ${ACR_LABELS[state.acr ?? ''] ?? state.acr}`, {
      detail: `The ID token says acr ${shortAcr(state.acr)}, authenticated ${ago(state.authTime)}${wanted ? `; the API asked for ${wanted.acrValues.map(shortAcr).join(' or ') || 'any acr'}${wanted.maxAge !== undefined ? ` within ${wanted.maxAge} s` : ''}` : ''}.`,
    })
  }
  if (state.diagnostic && state.diagnostic !== previous.diagnostic) {
    addEvent('warning', 'The API challenged, but the browser hid the challenge', { errorCode: state.diagnostic.code, detail: state.diagnostic.message })
  }
  previous = state
  renderSession(state)
})
setInterval(() => renderSession(stepUp.getState()), 1000)

// --- errors -----------------------------------------------------------------------------------
const ERROR_TITLES: Record<string, string> = {
  acr_not_satisfied: 'The OP answered with a lower assurance than the API asked for',
  max_age_exceeded: 'The sign-in is older than the API allows',
  subject_mismatch: 'A different person signed in',
  loop_detected: 'The API refused the token it asked for: stopped after one retry',
  popup_blocked: 'The browser blocked the popup',
  popup_closed: 'The popup was closed before the sign-in finished',
  unmet_authentication_requirements: 'The OP cannot reach that level for this user',
  authorization_error: 'The OP answered with an error',
}

/** A StepUpError that blocked a transfer, kept for the "Verify it's you" button. */
let blocked: { error: StepUpError; retry: () => Promise<void> } | undefined

function showError(error: unknown, retry?: () => Promise<void>): void {
  if (!isStepUpError(error)) {
    addEvent('error', 'The request failed', { detail: String(error) })
    return
  }
  addEvent('error', `${ERROR_TITLES[error.code] ?? 'The step-up failed'}. Nothing was retried.`, { errorCode: error.code, detail: error.message })
  if (error.code === 'popup_blocked' && retry) {
    blocked = { error, retry }
    $('verify-banner').hidden = false
  }
}

// --- the app ----------------------------------------------------------------------------------

async function showResponse(path: string, response: Response): Promise<void> {
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>
  if (path === '/api/balance' && response.ok) {
    $('balance').textContent = new Intl.NumberFormat('en-IE', { style: 'currency', currency: String(body.currency ?? 'EUR') }).format(Number(body.balance))
  }
  if (path === '/api/transfer') {
    const result = $('transfer-result')
    result.dataset.status = String(response.status)
    const sent = body.transferred as { amount?: number; to?: string } | undefined
    result.textContent = response.ok ? `Sent ${sent?.amount} EUR to ${sent?.to}.` : `The transfer was refused (${response.status}).`
    result.className = `result ${response.ok ? 'ok' : 'failed'}`
  }
  addEvent(response.ok ? 'success' : 'error', `${path}: ${response.status} ${response.ok ? 'OK' : response.statusText}`.trim(), {
    ...(response.ok && path === '/api/transfer' ? { detail: `Accepted with acr ${shortAcr(String(body.acr))}.` } : {}),
  })
}

async function call(path: string, init?: RequestInit): Promise<void> {
  await showResponse(path, await stepUp.fetch(`${config.api}${path}`, init))
}

function transferInit(): RequestInit {
  const body = JSON.stringify({ to: $<HTMLInputElement>('to').value, amount: Number($<HTMLInputElement>('amount').value) })
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body }
}

function run(action: () => Promise<void>): void {
  action().catch((error: unknown) => showError(error, action))
}

$('sign-in').addEventListener('click', () => {
  run(async () => {
    await stepUp.authorize()
  })
})
$('sign-out').addEventListener('click', () => {
  stepUp.logout()
  $('balance').textContent = '•••'
  addEvent('info', 'Signed out: the tokens are gone from this tab')
})
$('show-balance').addEventListener('click', () => run(() => call('/api/balance')))
$('transfer-form').addEventListener('submit', (event) => {
  event.preventDefault()
  $('verify-banner').hidden = true
  const init = transferInit()
  const send = () => call('/api/transfer', init).catch((error: unknown) => {
    const result = $('transfer-result')
    result.dataset.status = 'not-sent'
    result.className = 'result failed'
    result.textContent = isStepUpError(error, 'popup_blocked') ? 'Not sent yet: verify it\'s you first.' : 'Not sent: the verification did not succeed.'
    throw error
  })
  if ($<HTMLSelectElement>('when').value === 'later') {
    addEvent('info', 'Transfer scheduled in 8 seconds', { detail: 'It will start from a timer, with no click: a popup opened then is blocked by the browser.' })
    setTimeout(() => run(send), 8000)
  } else {
    run(send)
  }
})
$('verify').addEventListener('click', () => {
  const pending = blocked
  if (!pending) return
  blocked = undefined
  $('verify-banner').hidden = true
  const challenge = pending.error.challenge
  run(async () => {
    // From this click the popup may open; the elevated token is then sent straight away.
    await stepUp.authorize({ acrValues: challenge?.acrValues ?? [], ...(challenge?.maxAge !== undefined ? { maxAge: challenge.maxAge } : {}) })
    await pending.retry()
  })
})
$('loop').addEventListener('click', () => run(() => call('/api/always-challenge')))
$('clear').addEventListener('click', () => {
  events = []
  saveEvents(events)
  renderTimeline()
})

for (const input of document.querySelectorAll<HTMLInputElement>('input[name="mode"]')) {
  input.checked = input.value === mode
  input.addEventListener('change', () => {
    mode = input.value === 'redirect' ? 'redirect' : 'popup'
    sessionStorage.setItem('demo:mode', mode)
  })
}

// "Try what can go wrong": switches on the demo servers.
const SWITCHES = { 'scenario-op-ignores-acr': 'opIgnoresAcr', 'scenario-api-hides-header': 'apiHidesHeader', 'scenario-api-json-body': 'apiSendsJsonBody' } as const

async function syncScenario(changes?: Record<string, boolean>): Promise<void> {
  const response = await fetch('/__demo/scenario', changes ? { method: 'POST', body: JSON.stringify(changes) } : {})
  const scenario = (await response.json()) as Record<string, boolean>
  for (const [id, key] of Object.entries(SWITCHES)) $<HTMLInputElement>(id).checked = scenario[key] === true
}
for (const [id, key] of Object.entries(SWITCHES)) {
  $<HTMLInputElement>(id).addEventListener('change', (event) => {
    void syncScenario({ [key]: (event.target as HTMLInputElement).checked })
  })
}

// --- start --------------------------------------------------------------------------------------
renderTimeline()
renderSession(stepUp.getState())
await syncScenario()
try {
  // Back from a redirect step-up: replay the interrupted request, once.
  const replayed = await stepUp.resume()
  if (replayed) {
    const path = new URL(replayed.url).pathname
    addEvent('step', `resume() replayed the interrupted request to ${path}, once`)
    await showResponse(path, replayed)
  }
} catch (error) {
  showError(error)
}
// For your console: demo.stepUp.getState(), demo.stepUp.fetch(…).
Object.assign(window, { demo: { stepUp, config } })
document.body.dataset.ready = 'true'
