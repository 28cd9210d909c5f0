// stepup-fetch/ky: ky 2 requests that step up like stepUp.fetch, without ky's timeout cutting the step-up off.
export { createStepUpKy, stepUpHooks } from './ky.js'
