// stepup-fetch/vue: the SDK's state for Vue 3 components and composables.
export { StepUpPlugin, stepUpKey } from './plugin.js'
export type { StepUpPluginOptions } from './plugin.js'
export { useStepUp, useStepUpClient } from './use-step-up.js'
