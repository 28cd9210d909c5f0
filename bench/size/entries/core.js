// What an app does with stepup-fetch: create the client, handle the callback page, call fetch.
import { createStepUp, isStepUpError } from 'stepup-fetch'

const stepUp = createStepUp({
  issuer: 'https://op.example.com',
  clientId: 'spa',
  redirectUri: 'https://app.example.com/callback',
  protect: ['https://api.example.com'],
})
if (location.pathname === '/callback') stepUp.handleCallback()
document.querySelector('#transfer').onclick = async () => {
  try {
    const res = await stepUp.fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}' })
    console.log(await res.json())
  } catch (error) {
    if (isStepUpError(error, 'popup_blocked')) console.log('show a "Verify it\'s you" button')
    else throw error
  }
}
