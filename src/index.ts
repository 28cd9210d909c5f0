export { createStepUp } from './core/create-step-up.js'
export type {
  AuthorizeParams,
  CallbackResult,
  ResumeOutcome,
  ResumeSkipReason,
  StepUp,
  StepUpOptions,
  StepUpState,
} from './core/create-step-up.js'
export type { Protect } from './core/protect.js'
export type { AcceptAcr } from './core/requirement.js'
export { parseWwwAuthenticate } from './challenge/parse-www-authenticate.js'
export { readStepUpChallenge } from './challenge/read-step-up-challenge.js'
export type { StepUpChallenge, WwwAuthenticateChallenge } from './challenge/types.js'
export { StepUpError, isStepUpError } from './errors/step-up-error.js'
export type { StepUpErrorCode, StepUpErrorOptions } from './errors/step-up-error.js'
export { popup } from './flows/popup.js'
export type { PopupOptions } from './flows/popup.js'
export { redirect } from './flows/redirect.js'
export type { Interaction, InteractionContext } from './flows/interaction.js'
export type { RequestAcrWith } from './flows/authorization-request.js'
