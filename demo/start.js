// `npm run demo`: start the OP, the API and the SPA on 127.0.0.1, print where to go, and stop
// everything on Ctrl-C (or SIGTERM). Ports: DEMO_PORT (5173), DEMO_OP_PORT (4000),
// DEMO_API_PORT (4001); 0 picks free ones.
import { startDemo } from './server.js'

/** @param {string} name @param {number} fallback */
function portFrom(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name}=${raw} is not a port number (0-65535)`)
    process.exit(2)
  }
  return port
}

const ports = { port: portFrom('DEMO_PORT', 5173), opPort: portFrom('DEMO_OP_PORT', 4000), apiPort: portFrom('DEMO_API_PORT', 4001) }

let demo
try {
  demo = await startDemo({ ...ports, dev: process.env.DEMO_QUIET !== '1' })
} catch (error) {
  const e = /** @type {NodeJS.ErrnoException} */ (error)
  // Node says EADDRINUSE; Vite (strictPort) says "Port 5173 is already in use".
  if (e.code === 'EADDRINUSE' || /already in use/.test(String(e.message))) {
    console.error(`A port the demo needs is taken (${e.message}).\nStop what uses it, or choose others: DEMO_PORT=5180 DEMO_OP_PORT=4010 DEMO_API_PORT=4011 npm run demo`)
  } else {
    console.error('The demo could not start:', e)
  }
  process.exit(1)
}

console.log(`
  stepup-fetch demo

  Open  ${demo.url}

  OP    ${demo.op.issuer}   sign in with any name and the password "password";
        the one-time code for the step-up is shown on the OP's page
  API   ${demo.api.url}   GET /api/balance needs 1fa, POST /api/transfer needs 2fa within 300 s

  Ctrl-C stops everything.
`)

let stopping = false
/** @param {NodeJS.Signals} signal */
async function stop(signal) {
  if (stopping) {
    // A second Ctrl-C while closing: stop now.
    process.exit(130)
  }
  stopping = true
  console.log(`\n${signal}: stopping the demo…`)
  await demo.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
