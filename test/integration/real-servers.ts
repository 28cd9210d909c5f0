import { afterAll, afterEach, beforeAll } from 'vitest'
import { startApi, type ApiOptions } from '../../servers/api.js'
import { startOp, type OpOptions } from '../../servers/op.js'

/**
 * Starts the real OP (oidc-provider) and resource server (jose) on 127.0.0.1 for the calling
 * test file, resets their knobs and request logs after each test, and stops them at the end.
 * Read `servers.op` and `servers.api` inside tests and hooks. `options` change the servers'
 * defaults (e.g. `{ op: { accessTokenTtl: 2 } }`).
 */
export function useRealServers(options: { op?: OpOptions; api?: Partial<ApiOptions> } = {}) {
  const servers = {} as { op: Awaited<ReturnType<typeof startOp>>; api: Awaited<ReturnType<typeof startApi>> }
  beforeAll(async () => {
    servers.op = await startOp(options.op)
    servers.api = await startApi({ issuer: servers.op.issuer, audience: servers.op.resource, ...options.api })
  })
  afterEach(() => {
    servers.op.resetKnobs()
    servers.api.resetRequests()
  })
  afterAll(async () => {
    await servers.api?.close()
    await servers.op?.close()
  })
  return servers
}

/** The createStepUp options that point at these servers: issuer, client, redirect URI, the API protected. */
export function clientOf(servers: ReturnType<typeof useRealServers>) {
  return { issuer: servers.op.issuer, clientId: servers.op.clientId, redirectUri: servers.op.redirectUri, protect: [servers.api.url] }
}
