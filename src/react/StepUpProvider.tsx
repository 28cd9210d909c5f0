import type { ReactNode } from 'react'
import type { StepUp } from '../index.js'
import { StepUpContext } from './context.js'

/** Props of {@link StepUpProvider}. */
export interface StepUpProviderProps {
  /** The client from `createStepUp()`; create it once, outside components. */
  stepUp: StepUp
  /** The part of the app that may use the hooks. */
  children?: ReactNode
}

/**
 * Makes a step-up client available to {@link useStepUp}, {@link useStepUpFetch},
 * {@link useStepUpClient} and {@link StepUpPrompt} below it.
 *
 * @param props The client and the children.
 * @returns The children, with the client in context.
 * @example
 * ```tsx
 * import { createStepUp, popup } from 'stepup-fetch'
 * import { StepUpPrompt, StepUpProvider } from 'stepup-fetch/react'
 *
 * const stepUp = createStepUp({ ...options, interaction: popup({ fallback: 'user-action' }) })
 *
 * createRoot(root).render(
 *   <StepUpProvider stepUp={stepUp}>
 *     <App />
 *     <StepUpPrompt />
 *   </StepUpProvider>,
 * )
 * ```
 */
export function StepUpProvider({ stepUp, children }: StepUpProviderProps): ReactNode {
  return <StepUpContext.Provider value={stepUp}>{children}</StepUpContext.Provider>
}
