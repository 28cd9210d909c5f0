// The redirect URI page. In the popup it hands the callback to the opener and closes; after a
// redirect it redeems the code, verifies the token and goes back to the page that was left, which
// then calls resume() to replay the interrupted request.
import { isStepUpError } from 'stepup-fetch'
import { createClient } from './client.js'
import { acrLabel, ago, shortAcr } from './format.js'
import { recordEvent } from './timeline.js'

const title = document.getElementById('title')!
const detail = document.getElementById('detail')!
const back = document.getElementById('back')!

try {
  const stepUp = createClient()
  const result = await stepUp.handleCallback()
  if (result.mode === 'redirect') {
    title.textContent = 'Verified. Taking you back…'
    const { acr, authTime } = stepUp.getState()
    recordEvent({
      kind: 'success',
      title: `Back from the OP: verified by stepup-fetch: ${acrLabel(acr)}`,
      detail: `Code redeemed (PKCE); the ID token says acr ${shortAcr(acr)}, authenticated ${ago(authTime)}. The app page then calls resume() to replay an interrupted request, if there was one.`,
    })
    location.replace(result.returnTo ?? '/')
  } else {
    title.textContent = 'Verified. You can close this window.'
  }
} catch (error) {
  document.body.classList.add('failed')
  title.textContent = 'Verification did not complete'
  detail.textContent = isStepUpError(error) ? `${error.code}: ${error.message}` : String(error)
  back.hidden = false
  if (!window.opener) {
    // Redirect mode: tell the story on the app page, and go back there.
    recordEvent({
      kind: 'error',
      title: 'The step-up failed; nothing was retried',
      detail: isStepUpError(error) ? error.message : String(error),
      ...(isStepUpError(error) ? { errorCode: error.code } : {}),
    })
    setTimeout(() => location.replace('/'), 5000)
  }
}
