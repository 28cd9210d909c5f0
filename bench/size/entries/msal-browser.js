// The same job with MSAL Browser: a popup token request with an acr claims request, then a fetch.
import { PublicClientApplication } from '@azure/msal-browser'

const msal = new PublicClientApplication({
  auth: { clientId: 'spa', authority: 'https://op.example.com', redirectUri: 'https://app.example.com/callback' },
})
await msal.initialize()
document.querySelector('#transfer').onclick = async () => {
  const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:x:loa:2fa'] } } })
  const result = await msal.acquireTokenPopup({ scopes: ['openid'], claims })
  const res = await fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}', headers: { authorization: `Bearer ${result.accessToken}` } })
  console.log(await res.json())
}
