// The Vue page: the same bank through stepup-fetch/vue (the plugin, useStepUp(), useStepUpClient())
// with stepUp.fetch for the API. A blocked popup waits for a click here too:
// popup({ fallback: 'user-action' }), and the page renders its own prompt from the state.
import { createApp, defineComponent, h, onScopeDispose, ref, type VNode } from 'vue'
import { StepUpPlugin, useStepUp, useStepUpClient } from 'stepup-fetch/vue'
import { config } from './client.js'
import { acrLabel, addEvent, ago, createNarratedClient, initTimeline, narrateError, narrateResponse, newAction, STATUS_LABELS } from './narrate.js'

const stepUp = createNarratedClient({ fallback: 'user-action' }, 'popup')

/** One API call through stepUp.fetch, narrated; resolves with the JSON body of a 2xx. */
async function call<T>(path: string, init?: RequestInit): Promise<T> {
  newAction()
  try {
    const response = await stepUp.fetch(`${config.api}${path}`, init)
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>
    narrateResponse(path, response.status, body)
    if (!response.ok) throw new Error(`${path} answered ${response.status}`)
    return body as T
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith(path))) narrateError(error)
    throw error
  }
}

const card = (title: string, requirement: string | undefined, ...children: (VNode | string | null)[]): VNode =>
  h('article', { class: 'card' }, [
    h('div', { class: 'card-head' }, [h('h2', title), requirement ? h('span', { class: `requirement${requirement.includes('code') ? ' strong' : ''}` }, requirement) : null]),
    ...children,
  ])

const Bank = defineComponent({
  setup() {
    const state = useStepUp()
    const client = useStepUpClient()
    const now = ref(Date.now())
    const timer = setInterval(() => (now.value = Date.now()), 1000)
    onScopeDispose(() => clearInterval(timer))
    const balance = ref<string>()
    const result = ref<{ status: string; text: string }>()
    const to = ref('DE89 3704 0044 0532 0130 00')
    const amount = ref(25)
    const when = ref<'now' | 'later'>('now')

    const showBalance = () =>
      call<{ balance: number; currency: string }>('/api/balance').then(
        (body) => (balance.value = new Intl.NumberFormat('en-IE', { style: 'currency', currency: body.currency }).format(body.balance)),
        () => undefined,
      )
    const transfer = (event: Event) => {
      event.preventDefault()
      result.value = undefined
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: to.value, amount: Number(amount.value) }) }
      const send = () =>
        call<{ transferred: { to: string; amount: number } }>('/api/transfer', init).then(
          ({ transferred }) => (result.value = { status: '200', text: `Sent ${transferred.amount} EUR to ${transferred.to}.` }),
          () => (result.value = { status: 'not-sent', text: 'Not sent: the verification did not succeed.' }),
        )
      if (when.value === 'later') {
        addEvent('info', 'Transfer scheduled in 8 seconds', { detail: 'It starts from a timer, with no click: the browser would block a popup, so the step-up waits for "Verify it\'s you".' })
        setTimeout(() => void send(), 8000)
      } else {
        void send()
      }
    }

    return () => {
      const s = state.value
      void now.value // re-render every second for "N s ago"
      const signedIn = s.authenticated
      return [
        card(
          'Your session',
          undefined,
          h('dl', { class: 'facts' }, [
            h('dt', 'Signed in as'),
            h('dd', { id: 'sub' }, signedIn ? (s.sub ?? '—') : 'Signed out'),
            h('dt', ['Assurance ', h('span', { class: 'muted' }, '(acr)')]),
            h('dd', [h('span', { id: 'acr', class: 'pill', 'data-acr': s.acr ?? '', title: s.acr ?? '' }, acrLabel(s.acr))]),
            h('dt', ['Authenticated ', h('span', { class: 'muted' }, '(auth_time)')]),
            h('dd', { id: 'auth-time' }, s.authTime ? `${new Date(s.authTime * 1000).toLocaleTimeString()} (${ago(s.authTime)})` : '—'),
            h('dt', 'Step-up'),
            h('dd', [h('span', { id: 'status', class: 'status', 'data-status': s.status }, STATUS_LABELS[s.status](signedIn))]),
          ]),
          h('div', { class: 'actions' }, [
            signedIn
              ? h('button', { id: 'sign-out', class: 'secondary', onClick: () => (client.logout(), addEvent('info', 'Signed out: the tokens are gone from this tab')) }, 'Sign out')
              : h('button', { id: 'sign-in', class: 'primary', onClick: () => client.authorize().catch(narrateError) }, 'Sign in'),
          ]),
        ),
        card(
          'Balance',
          'needs password',
          h('p', { id: 'balance', class: 'amount' }, signedIn && balance.value ? balance.value : '•••'),
          h('button', { id: 'show-balance', class: 'secondary', disabled: !signedIn, onClick: showBalance }, 'Show balance'),
        ),
        card(
          'Send money',
          'needs password + one-time code, within 5 min',
          h('form', { id: 'transfer-form', class: 'form', onSubmit: transfer }, [
            h('label', ['To ', h('input', { id: 'to', value: to.value, autocomplete: 'off', onInput: (e: Event) => (to.value = (e.target as HTMLInputElement).value) })]),
            h('div', { class: 'row' }, [
              h('label', ['Amount (EUR) ', h('input', { id: 'amount', type: 'number', min: 1, value: amount.value, onInput: (e: Event) => (amount.value = Number((e.target as HTMLInputElement).value)) })]),
              h('label', [
                'When',
                h('select', { id: 'when', value: when.value, onChange: (e: Event) => (when.value = (e.target as HTMLSelectElement).value === 'later' ? 'later' : 'now') }, [
                  h('option', { value: 'now' }, 'Now'),
                  h('option', { value: 'later' }, 'In 8 seconds'),
                ]),
              ]),
            ]),
            h('button', { id: 'transfer', class: 'primary', type: 'submit', disabled: !signedIn }, 'Send'),
          ]),
          // The state offers continue() and cancel() while the step-up waits for a click.
          s.status === 'pending-user-action'
            ? h('div', { role: 'alertdialog', 'data-stepup-prompt': '' }, [
                h('p', 'One more step: your browser blocked the verification window because it did not open from a click.'),
                h('button', { type: 'button', onClick: () => s.continue?.() }, "Verify it's you"),
                h('button', { type: 'button', onClick: () => s.cancel?.() }, 'Cancel'),
              ])
            : null,
          h('p', { id: 'transfer-result', class: `result ${result.value?.status === '200' ? 'ok' : 'failed'}`, 'data-status': result.value?.status, 'aria-live': 'polite' }, result.value?.text ?? ''),
        ),
      ]
    }
  },
})

initTimeline()
const root = document.getElementById('app')!
root.replaceChildren()
createApp(Bank).use(StepUpPlugin, { stepUp }).mount(root)
document.body.dataset.ready = 'true'
