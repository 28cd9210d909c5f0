// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, createSSRApp, defineComponent, effectScope, h, nextTick } from 'vue'
import { renderToString } from 'vue/server-renderer'
import { createStepUp, type StepUp } from '../../src/index.js'
import { StepUpPlugin, stepUpKey, useStepUp, useStepUpClient } from '../../src/vue/index.js'
import { blockedPopupPage, type BlockedPopupPage } from '../support/blocked-popup.js'

let page: BlockedPopupPage
let stepUp: StepUp
beforeEach(() => {
  page = blockedPopupPage()
  stepUp = page.client()
})
afterEach(() => {
  vi.restoreAllMocks()
  sessionStorage.clear()
})

/** A component showing the state, with the "Verify it's you" prompt an app would write. */
const Status = defineComponent({
  setup() {
    return { state: useStepUp(), client: useStepUpClient() }
  },
  render() {
    const { status, acr } = this.state
    return h('div', [
      h('p', { id: 'status' }, `${status} ${acr ?? '-'}`),
      status === 'pending-user-action'
        ? h('div', { role: 'alertdialog' }, [
            h('button', { id: 'continue', onClick: () => page.click(() => this.state.continue!()) }, 'Continue'),
            h('button', { id: 'cancel', onClick: () => this.state.cancel!() }, 'Cancel'),
          ])
        : null,
    ])
  },
})

function catching(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  return undefined
}

const mountStatus = () => mount(Status, { global: { plugins: [[StepUpPlugin, { stepUp }]] } })

describe('stepup-fetch/vue', () => {
  it('app.use(StepUpPlugin, { stepUp }) provides the client; useStepUp() is a reactive ref of getState()', async () => {
    const wrapper = mountStatus()
    expect(wrapper.vm.client).toBe(stepUp)
    expect(wrapper.vm.state).toBe(stepUp.getState())
    expect(wrapper.find('#status').text()).toBe('idle -')

    const login = stepUp.authorize()
    await vi.waitFor(() => expect(wrapper.find('[role="alertdialog"]').exists()).toBe(true))
    expect(wrapper.find('#status').text()).toBe('pending-user-action -')
    await wrapper.find('#continue').trigger('click')
    expect(page.popups).toHaveLength(1)
    expect(wrapper.find('#status').text()).toBe('authorizing -')
    await page.finishPopup()
    await login
    await nextTick()
    expect(wrapper.find('#status').text()).toBe('idle urn:test:1fa')
    expect(wrapper.vm.state).toBe(stepUp.getState())
  })

  it('Cancel in the prompt rejects the waiting step-up with aborted', async () => {
    const wrapper = mountStatus()
    const login = stepUp.authorize().catch((e: unknown) => e)
    await vi.waitFor(() => expect(wrapper.find('#cancel').exists()).toBe(true))
    await wrapper.find('#cancel').trigger('click')
    expect(await login).toMatchObject({ name: 'StepUpError', code: 'aborted' })
    await nextTick()
    expect(wrapper.find('#status').text()).toBe('idle -')
  })

  it('unsubscribes when the component unmounts (scope dispose)', () => {
    const subscribe = vi.spyOn(stepUp, 'subscribe')
    const wrapper = mountStatus()
    const unsubscribe = subscribe.mock.results.at(-1)!.value as () => boolean
    wrapper.unmount()
    expect(unsubscribe()).toBe(false) // already removed by onScopeDispose
  })

  it('unsubscribes when an effect scope run with the app context stops', () => {
    const app = createApp({ render: () => null }).use(StepUpPlugin, { stepUp })
    const subscribe = vi.spyOn(stepUp, 'subscribe')
    const scope = effectScope()
    const state = app.runWithContext(() => scope.run(() => useStepUp()))!
    const unsubscribe = subscribe.mock.results.at(-1)!.value as () => boolean
    scope.stop()
    expect(unsubscribe()).toBe(false)
    expect(state.value).toBe(stepUp.getState())
  })

  it('provide(stepUpKey, other) overrides the client for a subtree', () => {
    const other = page.client()
    const Child = defineComponent({ setup: () => ({ client: useStepUpClient() }), render: () => h('span') })
    const Parent = defineComponent({
      setup() {
        return {}
      },
      provide: { [stepUpKey as symbol]: other },
      render: () => h(Child),
    })
    const wrapper = mount(Parent, { global: { plugins: [[StepUpPlugin, { stepUp }]] } })
    expect(wrapper.findComponent(Child).vm.client).toBe(other)
  })

  it('throws a TypeError that says what to do without the plugin, or outside setup()', () => {
    const Orphan = defineComponent({ setup: () => ({ state: useStepUp() }), render: () => h('span') })
    vi.spyOn(console, 'warn').mockImplementation(() => {}) // Vue reports the failed setup
    expect(() => mount(Orphan)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_STEPUP_NO_PROVIDER', message: expect.stringMatching(/app\.use\(StepUpPlugin, \{ stepUp \}\)/) }))
    expect(() => useStepUpClient()).toThrow(expect.objectContaining({ code: 'ERR_STEPUP_NO_PROVIDER', message: expect.stringMatching(/inside setup\(\)/) }))
  })

  it('with the plugin installed, still throws when called outside setup() (an event handler)', async () => {
    let thrown: unknown
    const Button = defineComponent({
      render: () => h('button', { onClick: () => void (thrown = catching(() => useStepUp())) }, 'go'),
    })
    const wrapper = mount(Button, { global: { plugins: [[StepUpPlugin, { stepUp }]] } })
    await wrapper.find('button').trigger('click')
    expect(thrown).toMatchObject({ name: 'TypeError', code: 'ERR_STEPUP_NO_PROVIDER', message: expect.stringMatching(/inside setup\(\)/) })
  })

  it('with the app context but no effect scope, works and warns that nothing will release it', () => {
    const app = createApp({ render: () => null }).use(StepUpPlugin, { stepUp })
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const state = app.runWithContext(() => useStepUp())
    expect(state.value).toBe(stepUp.getState())
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^\[stepup-fetch\] useStepUp\(\) was called outside setup\(\) or an effect scope/))
  })

  it('server rendering leaves no subscription on the shared client, and renders the state', async () => {
    const subscribe = vi.spyOn(stepUp, 'subscribe')
    const Probe = defineComponent({ setup: () => ({ state: useStepUp() }), render() { return h('p', this.state.status) } })
    for (let i = 0; i < 3; i++) expect(await renderToString(createSSRApp(Probe).use(StepUpPlugin, { stepUp }))).toBe('<p>idle</p>')
    const stillSubscribed = subscribe.mock.results.filter((r) => (r.value as () => boolean)())
    expect(stillSubscribed).toEqual([])
  })

  it('shows a change made between setup() and mount', () => {
    const now = Date.now()
    sessionStorage.setItem('stepup-fetch:c:tokens', JSON.stringify([{ accessToken: 'at', tokenType: 'Bearer', idToken: 'x', sub: 'alice', acr: 'urn:1', authTime: Math.floor(now / 1000), expiresAt: now + 3_600_000, obtainedAt: now }]))
    const client = createStepUp({ issuer: 'https://op.example', clientId: 'c', redirectUri: 'https://app.example/cb', protect: ['https://api.example'], storage: 'session' })
    const Probe = defineComponent({
      setup() {
        const state = useStepUp()
        client.logout() // before the component mounts and subscribes
        return { state }
      },
      render() {
        return h('p', this.state.authenticated ? 'signed in' : 'signed out')
      },
    })
    expect(mount(Probe, { global: { plugins: [[StepUpPlugin, { stepUp: client }]] } }).text()).toBe('signed out')
  })

  it('rejects a plugin install without a client', () => {
    expect(() => createApp({ render: () => null }).use(StepUpPlugin, {} as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
  })
})
