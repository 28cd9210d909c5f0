// The redirect URI page. In the popup it hands the callback to the opener and closes; after a
// redirect it redeems the code, verifies the token and goes back to the page that was left, which
// then calls resume() to replay the interrupted request.
import { isStepUpError } from 'stepup-fetch'
import { createClient } from './client.js'
import { recordEvent } from './timeline.js'

const title = document.getElementById('title')!
const detail = document.getElementById('detail')!
const back = document.getElementById('back')!

try {
  const result = await createClient().handleCallback()
  if (result.mode === 'redirect') {
    title.textContent = 'Verified. Taking you back…'
    recordEvent({ kind: 'step', title: 'Back from the OP: code redeemed and the ID token verified', detail: 'The app page now calls resume() to replay the interrupted request.' })
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
    setTimeout(() => location.replace('/'), 1500)
  }
}
