// One place that creates the SDK client, for the app page and the callback page alike: both must
// agree on issuer, client, redirect URI and storage for a callback to find its flow.
import config from 'virtual:demo-config'
import { createStepUp, type StepUpOptions, type StepUp } from 'stepup-fetch'

export { config }

export const ACR_LABELS: Record<string, string> = {
  'urn:demo:loa:1fa': 'Password',
  'urn:demo:loa:2fa': 'Password + one-time code',
}

/**
 * `storage: 'session'` so that a redirect step-up comes back to a signed-in page (the SDK's
 * default, 'memory', forgets tokens on a page load; see the README's "Storage and XSS").
 */
export function createClient(extra: Pick<StepUpOptions, 'interaction' | 'fetch'> = {}): StepUp {
  return createStepUp({
    issuer: config.issuer,
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    protect: [config.api],
    storage: 'session',
    ...extra,
  })
}
