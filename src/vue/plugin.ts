import type { App, InjectionKey } from 'vue'
import type { StepUp } from '../index.js'

/**
 * The injection key the plugin provides the client under, for `inject(stepUpKey)` or for
 * `provide(stepUpKey, otherClient)` in a subtree.
 *
 * @example
 * ```ts
 * // In a component whose subtree talks to another API with its own client:
 * provide(stepUpKey, createStepUp({ ...otherOptions }))
 * ```
 */
export const stepUpKey: InjectionKey<StepUp> = Symbol('stepup-fetch')

/** Options for {@link StepUpPlugin}. */
export interface StepUpPluginOptions {
  /** The client from `createStepUp()`. */
  stepUp: StepUp
}

/**
 * A Vue plugin that provides a step-up client to the app's components, for
 * {@link useStepUp} and {@link useStepUpClient}.
 *
 * @example
 * ```ts
 * import { createApp } from 'vue'
 * import { createStepUp, popup } from 'stepup-fetch'
 * import { StepUpPlugin } from 'stepup-fetch/vue'
 *
 * const stepUp = createStepUp({ ...options, interaction: popup({ fallback: 'user-action' }) })
 * createApp(App).use(StepUpPlugin, { stepUp }).mount('#app')
 * ```
 */
export const StepUpPlugin = {
  /**
   * @param app The Vue app (`app.use` passes it).
   * @param options `{ stepUp }`: the client to provide.
   * @throws {TypeError} With `code` `'ERR_INVALID_ARG_TYPE'` when `stepUp` is not a client.
   */
  install(app: App, options: StepUpPluginOptions): void {
    const stepUp = options?.stepUp
    if (!stepUp || typeof stepUp.getState !== 'function' || typeof stepUp.subscribe !== 'function') {
      throw Object.assign(new TypeError('app.use(StepUpPlugin, { stepUp }) needs the client from createStepUp()'), { code: 'ERR_INVALID_ARG_TYPE' })
    }
    app.provide(stepUpKey, stepUp)
  },
}
