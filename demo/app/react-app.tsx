// The React page: the same bank through stepup-fetch/react (state, client) and stepup-fetch/ky
// (API calls). A blocked popup waits for a click here: popup({ fallback: 'user-action' }) puts the
// state in 'pending-user-action' and <StepUpPrompt> offers the button that continues it.
import { HTTPError, type Options } from 'ky'
import { StrictMode, useEffect, useState, type FormEvent, type ReactNode } from 'react'
import { createRoot } from 'react-dom/client'
import { createStepUpKy } from 'stepup-fetch/ky'
import { StepUpPrompt, StepUpProvider, useStepUp, useStepUpClient } from 'stepup-fetch/react'
import { config } from './client.js'
import { acrLabel, addEvent, ago, createNarratedClient, initTimeline, narrateError, narrateResponse, newAction, STATUS_LABELS } from './narrate.js'

const stepUp = createNarratedClient({ fallback: 'user-action' }, 'popup')
const api = createStepUpKy(stepUp, { prefix: config.api, retry: 0 })

/** One API call through ky, narrated; rejects like ky does (HTTPError, StepUpError). */
async function call<T>(path: string, options?: Options): Promise<T> {
  newAction()
  try {
    const response = await api(path.slice(1), options)
    const body = (await response.json()) as T
    narrateResponse(path, response.status, body as Record<string, unknown>)
    return body
  } catch (error) {
    if (error instanceof HTTPError) narrateResponse(path, error.response.status, {})
    else narrateError(error)
    throw error
  }
}

function useEverySecond(): void {
  const [, setTick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), 1000)
    return () => clearInterval(timer)
  }, [])
}

function Session(): ReactNode {
  const state = useStepUp()
  const client = useStepUpClient()
  useEverySecond()
  return (
    <article className="card">
      <h2>Your session</h2>
      <dl className="facts">
        <dt>Signed in as</dt>
        <dd id="sub">{state.authenticated ? state.sub : 'Signed out'}</dd>
        <dt>Assurance <span className="muted">(acr)</span></dt>
        <dd>
          <span id="acr" className="pill" data-acr={state.acr ?? ''} title={state.acr ?? ''}>{acrLabel(state.acr)}</span>
        </dd>
        <dt>Authenticated <span className="muted">(auth_time)</span></dt>
        <dd id="auth-time">{state.authTime ? `${new Date(state.authTime * 1000).toLocaleTimeString()} (${ago(state.authTime)})` : '—'}</dd>
        <dt>Step-up</dt>
        <dd>
          <span id="status" className="status" data-status={state.status}>{STATUS_LABELS[state.status](state.authenticated)}</span>
        </dd>
      </dl>
      <div className="actions">
        {state.authenticated ? (
          <button
            id="sign-out"
            className="secondary"
            onClick={() => {
              client.logout()
              addEvent('info', 'Signed out: the tokens are gone from this tab')
            }}
          >
            Sign out
          </button>
        ) : (
          <button id="sign-in" className="primary" onClick={() => client.authorize().catch(narrateError)}>
            Sign in
          </button>
        )}
      </div>
    </article>
  )
}

function Balance(): ReactNode {
  const { authenticated } = useStepUp()
  const [balance, setBalance] = useState<string>()
  const show = () =>
    call<{ balance: number; currency: string }>('/api/balance').then(
      (body) => setBalance(new Intl.NumberFormat('en-IE', { style: 'currency', currency: body.currency }).format(body.balance)),
      () => undefined,
    )
  return (
    <article className="card">
      <div className="card-head">
        <h2>Balance</h2>
        <span className="requirement">needs password</span>
      </div>
      <p id="balance" className="amount">{authenticated && balance ? balance : '•••'}</p>
      <button id="show-balance" className="secondary" disabled={!authenticated} onClick={show}>
        Show balance
      </button>
    </article>
  )
}

interface Transferred {
  transferred: { to: string; amount: number }
}

function Transfer(): ReactNode {
  const { authenticated } = useStepUp()
  const [result, setResult] = useState<{ status: string; text: string }>()
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const json = { to: String(form.get('to')), amount: Number(form.get('amount')) }
    setResult(undefined)
    const send = () =>
      call<Transferred>('/api/transfer', { method: 'post', json }).then(
        ({ transferred }) => setResult({ status: '200', text: `Sent ${transferred.amount} EUR to ${transferred.to}.` }),
        () => setResult({ status: 'not-sent', text: 'Not sent: the verification did not succeed.' }),
      )
    if (form.get('when') === 'later') {
      addEvent('info', 'Transfer scheduled in 8 seconds', { detail: 'It starts from a timer, with no click: the browser would block a popup, so the step-up waits for "Verify it\'s you".' })
      setTimeout(() => void send(), 8000)
    } else {
      void send()
    }
  }
  return (
    <article className="card">
      <div className="card-head">
        <h2>Send money</h2>
        <span className="requirement strong">needs password + one-time code, within 5 min</span>
      </div>
      <form id="transfer-form" className="form" onSubmit={submit}>
        <label>
          To <input id="to" name="to" defaultValue="DE89 3704 0044 0532 0130 00" autoComplete="off" />
        </label>
        <div className="row">
          <label>
            Amount (EUR) <input id="amount" name="amount" type="number" defaultValue={25} min={1} />
          </label>
          <label>
            When
            <select id="when" name="when" defaultValue="now">
              <option value="now">Now</option>
              <option value="later">In 8 seconds</option>
            </select>
          </label>
        </div>
        <button id="transfer" className="primary" type="submit" disabled={!authenticated}>
          Send
        </button>
      </form>
      <StepUpPrompt title="One more step: your browser blocked the verification window because it did not open from a click." continueLabel="Verify it's you" />
      <p id="transfer-result" className={`result ${result?.status === '200' ? 'ok' : 'failed'}`} data-status={result?.status} aria-live="polite">
        {result?.text}
      </p>
    </article>
  )
}

initTimeline()
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StepUpProvider stepUp={stepUp}>
      <Session />
      <Balance />
      <Transfer />
    </StepUpProvider>
  </StrictMode>,
)
document.body.dataset.ready = 'true'
