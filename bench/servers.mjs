// The demo OP and API for the benchmarks, in their own process: oidc-provider (koa) turns on
// async hooks, which would tax every promise of the process being measured. Prints one JSON
// line with the URLs, then serves until stdin closes.
import { startApi } from '../servers/api.js'
import { startOp } from '../servers/op.js'

const op = await startOp()
const api = await startApi({ issuer: op.issuer, audience: op.resource })
process.stdout.write(`${JSON.stringify({ issuer: op.issuer, clientId: op.clientId, redirectUri: op.redirectUri, api: api.url })}\n`)
process.stdin.resume()
process.stdin.on('end', async () => {
  await api.close()
  await op.close()
  process.exit(0)
})
