import { useId, type ReactNode } from 'react'
import type { StepUpChallenge } from '../index.js'
import { useStepUp } from './hooks.js'

/** What a custom {@link StepUpPrompt} render function receives. */
export interface StepUpPromptControls {
  /** Runs the waiting step-up: call it from the click handler (it opens the popup there). */
  continue: () => void
  /** Gives the step-up up; the waiting requests reject with `StepUpError('aborted')`. */
  cancel: () => void
  /** The challenge that asked for the step-up (`acrValues`, `maxAge`), when a request did. */
  challenge: StepUpChallenge | undefined
}

/** Props of {@link StepUpPrompt}. */
export interface StepUpPromptProps {
  /** Render your own prompt (a modal, a toast); the default is an unstyled `role="alertdialog"`. */
  children?: (controls: StepUpPromptControls) => ReactNode
  /**
   * The prompt's text.
   * @default "Verify it's you"
   */
  title?: ReactNode
  /**
   * The continue button's label.
   * @default 'Continue'
   */
  continueLabel?: ReactNode
  /**
   * The cancel button's label.
   * @default 'Cancel'
   */
  cancelLabel?: ReactNode
}

/**
 * Shows a "Verify it's you" prompt while a step-up waits for a click (`status` is
 * `'pending-user-action'`: the browser blocked the popup, and the client uses
 * `popup({ fallback: 'user-action' })`), and nothing otherwise. Its Continue button opens the
 * popup from the click, where browsers allow it. Unstyled: target `[data-stepup-prompt]`, or
 * render your own through `children`.
 *
 * @param props Labels, or a render function for your own UI.
 * @returns The prompt, or `null` when no step-up is waiting.
 * @example
 * ```tsx
 * <StepUpPrompt>
 *   {({ continue: verify, cancel }) => (
 *     <Modal onClose={cancel}>
 *       <button onClick={verify}>Verify with your second factor</button>
 *     </Modal>
 *   )}
 * </StepUpPrompt>
 * ```
 */
export function StepUpPrompt({ children, title = "Verify it's you", continueLabel = 'Continue', cancelLabel = 'Cancel' }: StepUpPromptProps): ReactNode {
  const state = useStepUp()
  const id = useId()
  const { continue: resume, cancel } = state
  if (state.status !== 'pending-user-action' || !resume || !cancel) return null
  if (children) return children({ continue: resume, cancel, challenge: state.challenge })
  return (
    <div role="alertdialog" aria-labelledby={id} data-stepup-prompt="">
      <p id={id}>{title}</p>
      <button type="button" onClick={() => resume()}>
        {continueLabel}
      </button>
      <button type="button" onClick={() => cancel()}>
        {cancelLabel}
      </button>
    </div>
  )
}
