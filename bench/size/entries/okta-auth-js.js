// The same job with Okta Auth JS: a popup token request asking for the acr, then a fetch.
import { OktaAuth } from '@okta/okta-auth-js'

const okta = new OktaAuth({ issuer: 'https://op.example.com', clientId: 'spa', redirectUri: 'https://app.example.com/callback' })
document.querySelector('#transfer').onclick = async () => {
  const { tokens } = await okta.token.getWithPopup({ acrValues: 'urn:x:loa:2fa', maxAge: 300 })
  const res = await fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}', headers: { authorization: `Bearer ${tokens.accessToken.accessToken}` } })
  console.log(await res.json())
}
