// The same job with Auth0 SPA JS: a popup login asking for the acr, then a fetch with the token.
import { createAuth0Client } from '@auth0/auth0-spa-js'

const auth0 = await createAuth0Client({
  domain: 'op.example.com',
  clientId: 'spa',
  authorizationParams: { redirect_uri: 'https://app.example.com/callback' },
})
document.querySelector('#transfer').onclick = async () => {
  await auth0.loginWithPopup({ authorizationParams: { acr_values: 'urn:x:loa:2fa', max_age: 300 } })
  const token = await auth0.getTokenSilently()
  const res = await fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}', headers: { authorization: `Bearer ${token}` } })
  console.log(await res.json())
}
