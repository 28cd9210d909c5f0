// The vanilla demo page: a small bank whose API calls all go through stepUp.fetch(), narrated in
// "What happened" (narrate.ts). A blocked popup rejects with popup_blocked here, and the page
// offers "Verify it's you" (authorize() from the click); the React and Vue pages show the other
// way, popup({ fallback: 'user-action' }).
import { isStepUpError, type StepUpError, type StepUpState } from 'stepup-fetch'
import { config } from './client.js'
import { acrLabel, addEvent, ago, createNarratedClient, currentMode, initTimeline, narrateError, narrateResponse, newAction, STATUS_LABELS, type Mode } from './narrate.js'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T
let mode: Mode = currentMode()
const stepUp = createNarratedClient()

function renderSession(state: StepUpState): void {
  $('sub').textContent = state.authenticated ? (state.sub ?? '—') : 'Signed out'
  const acr = $('acr')
  acr.textContent = acrLabel(state.acr)
  acr.dataset.acr = state.acr ?? ''
  acr.title = state.acr ?? ''
  $('auth-time').textContent = state.authTime ? `${new Date(state.authTime * 1000).toLocaleTimeString()} (${ago(state.authTime)})` : '—'
  $('status').textContent = STATUS_LABELS[state.status](state.authenticated)
  $('status').dataset.status = state.status
  $('sign-in').hidden = state.authenticated
  $('sign-out').hidden = !state.authenticated
  for (const id of ['show-balance', 'transfer', 'loop']) {
    const button = $<HTMLButtonElement>(id)
    button.disabled = !state.authenticated
    button.title = state.authenticated ? '' : 'Sign in first'
  }
  // Only for a step-up (a challenge asked for it), not for the plain sign-in popup.
  $('pending').hidden = state.status !== 'authorizing' || mode !== 'popup' || !state.challenge
  document.body.classList.toggle('busy', state.status === 'authorizing')
}
stepUp.subscribe(() => renderSession(stepUp.getState()))
setInterval(() => renderSession(stepUp.getState()), 1000)

/** A StepUpError that blocked a transfer, kept for the "Verify it's you" button. */
let blocked: { error: StepUpError; retry: () => Promise<void> } | undefined

function showError(error: unknown, retry?: () => Promise<void>): void {
  narrateError(error)
  if (isStepUpError(error, 'popup_blocked') && retry) {
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
  narrateResponse(path, response.status, body)
}

async function call(path: string, init?: RequestInit): Promise<void> {
  await showResponse(path, await stepUp.fetch(`${config.api}${path}`, init))
}

function transferInit(): RequestInit {
  const body = JSON.stringify({ to: $<HTMLInputElement>('to').value, amount: Number($<HTMLInputElement>('amount').value) })
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body }
}

function run(action: () => Promise<void>): void {
  newAction()
  action().catch((error: unknown) => showError(error, action))
}

$('sign-in').addEventListener('click', () => {
  run(async () => {
    await stepUp.authorize()
  })
})
$('sign-out').addEventListener('click', () => {
  stepUp.logout()
  // Nothing started before sign-out may go on afterwards, under whoever signs in next.
  blocked = undefined
  $('verify-banner').hidden = true
  $('transfer-result').textContent = ''
  delete $('transfer-result').dataset.status
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
  const response = await fetch('/__demo/scenario', changes ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(changes) } : {})
  const scenario = (await response.json()) as Record<string, boolean>
  for (const [id, key] of Object.entries(SWITCHES)) $<HTMLInputElement>(id).checked = scenario[key] === true
}
for (const [id, key] of Object.entries(SWITCHES)) {
  $<HTMLInputElement>(id).addEventListener('change', (event) => {
    void syncScenario({ [key]: (event.target as HTMLInputElement).checked })
  })
}

// --- start --------------------------------------------------------------------------------------
initTimeline()
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
document.body.dataset.ready = 'true'
