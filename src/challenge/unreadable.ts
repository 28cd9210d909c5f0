// The challenge_unreadable diagnostic, loaded with import() only when a cross-origin API answers
// a 401 whose challenge the browser hid (a misconfigured API): a correct one never pays for it.
import type { StepUpError } from '../errors/step-up-error.js'

/** Origins already warned about in the console: once per origin and page. */
const warned = new Set<string>()

/**
 * Report that `origin` hid its challenge: show it in the state (`diagnostic`), and warn in the
 * console once per origin. The client lends its StepUpError class: this chunk imports nothing of
 * the first load's (docs/decisions/0007-first-load.md).
 */
export function unreadable(origin: string, show: (patch: { diagnostic: StepUpError }) => void, ErrorClass: typeof StepUpError): void {
  // Cross-origin: the browser hides WWW-Authenticate unless the API exposes it (Fetch §3.2.3).
  const diagnostic = new ErrorClass(
    'challenge_unreadable',
    `a 401 from ${origin} has no readable challenge; a step-up API must send "Access-Control-Expose-Headers: WWW-Authenticate" (or a JSON body challenge)`,
  )
  show({ diagnostic })
  if (!warned.has(origin)) {
    warned.add(origin)
    console.warn(`[stepup-fetch] ${diagnostic.message}`)
  }
}
