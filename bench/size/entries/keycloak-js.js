// The same job with keycloak-js: a login asking for an essential acr, then a fetch with the token.
import Keycloak from 'keycloak-js'

const keycloak = new Keycloak({ url: 'https://op.example.com', realm: 'demo', clientId: 'spa' })
await keycloak.init({ onLoad: 'check-sso', pkceMethod: 'S256' })
document.querySelector('#transfer').onclick = async () => {
  if (!keycloak.authenticated) await keycloak.login({ acr: { values: ['urn:x:loa:2fa'], essential: true }, maxAge: 300 })
  await keycloak.updateToken(30)
  const res = await fetch('https://api.example.com/transfer', { method: 'POST', body: '{"amount":100}', headers: { authorization: `Bearer ${keycloak.token}` } })
  console.log(await res.json())
}
