// The same job with oidc-client-ts: a popup sign-in asking for the acr, then a fetch with the token.
import { UserManager } from 'oidc-client-ts'

const users = new UserManager({
  authority: 'https://op.example.com',
  client_id: 'spa',
  redirect_uri: 'https://app.example.com/callback',
  scope: 'openid',
})
if (location.pathname === '/callback') users.signinPopupCallback()
document.querySelector('#transfer').onclick = async () => {
  const user = await users.signinPopup({ acr_values: 'urn:x:loa:2fa', max_age: 300 })
  const res = await fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}', headers: { authorization: `Bearer ${user.access_token}` } })
  console.log(await res.json())
}
