import { getCurrentInstance, getCurrentScope, hasInjectionContext, inject, onBeforeMount, onScopeDispose, shallowRef, type ShallowRef } from 'vue'
import type { StepUp, StepUpState } from '../index.js'
import { stepUpKey } from './plugin.js'

/**
 * The client the {@link StepUpPlugin} provided, for `authorize()`, `logout()` and `fetch`.
 * Call it in `setup()` (or another injection context).
 *
 * @returns The {@link StepUp} client.
 * @throws {TypeError} With `code` `'ERR_STEPUP_NO_PROVIDER'` when no client was provided.
 * @example
 * ```ts
 * const stepUp = useStepUpClient()
 * const res = await stepUp.fetch('https://api.example.com/transfer', { method: 'POST', body })
 * ```
 */
export function useStepUpClient(): StepUp {
  return injectClient('useStepUpClient')
}

/**
 * The SDK's state as a read-only shallow ref, updated on every change: `status` (`'idle'`,
 * `'authorizing'`, `'pending-user-action'` with `continue()` / `cancel()`, `'error'` with
 * `error`), and the newest token's `acr`, `amr`, `authTime` and `sub`. In a component the ref
 * follows the client from mount (`onBeforeMount`) to unmount; server rendering, which never
 * mounts, leaves no subscription behind. In a bare effect scope it follows from the call until
 * the scope stops.
 *
 * @returns A ref whose `value` is the current {@link StepUpState} snapshot.
 * @throws {TypeError} With `code` `'ERR_STEPUP_NO_PROVIDER'` when no client was provided.
 * @example
 * ```vue
 * <script setup lang="ts">
 * import { useStepUp } from 'stepup-fetch/vue'
 * const state = useStepUp()
 * </script>
 *
 * <template>
 *   <p>Signed in at {{ state.acr }}</p>
 *   <div v-if="state.status === 'pending-user-action'" role="alertdialog">
 *     Verify it's you <button @click="state.continue?.()">Continue</button>
 *     <button @click="state.cancel?.()">Cancel</button>
 *   </div>
 * </template>
 * ```
 */
export function useStepUp(): Readonly<ShallowRef<StepUpState>> {
  const stepUp = injectClient('useStepUp')
  const state = shallowRef(stepUp.getState())
  const subscribe = (): (() => void) => {
    state.value = stepUp.getState() // it may have changed since setup()
    return stepUp.subscribe(() => {
      state.value = stepUp.getState()
    })
  }
  if (getCurrentInstance()) {
    // A component subscribes when it mounts: server rendering runs setup() but never mounts or
    // unmounts, so a subscription made in setup() would stay on the shared client per request.
    let unsubscribe: (() => void) | undefined
    onBeforeMount(() => void (unsubscribe = subscribe()))
    onScopeDispose(() => unsubscribe?.())
  } else if (getCurrentScope()) {
    onScopeDispose(subscribe())
  } else {
    subscribe()
    console.warn('[stepup-fetch] useStepUp() was called outside setup() or an effect scope; its subscription is never released')
  }
  return state
}

function injectClient(composable: string): StepUp {
  // Outside setup(), inject() would only warn; say what to do instead.
  const stepUp = hasInjectionContext() ? inject(stepUpKey, undefined) : undefined
  if (!stepUp) {
    throw Object.assign(
      new TypeError(`${composable}() found no step-up client: install it with app.use(StepUpPlugin, { stepUp }) and call ${composable}() inside setup()`),
      { code: 'ERR_STEPUP_NO_PROVIDER' },
    )
  }
  return stepUp
}
