import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { createFakeApi } from './fake-api.js'
import { createFakeOp, type FakeOp } from './fake-op.js'

/**
 * Registers an msw server with a fresh fake OP and API before each test. Read `ctx.op`,
 * `ctx.api` and `ctx.server` inside tests (they change per test).
 */
export function useFakeServers() {
  const server = setupServer()
  const ctx = { server, op: undefined as unknown as FakeOp, api: undefined as unknown as ReturnType<typeof createFakeApi> }
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  beforeEach(() => {
    ctx.op = createFakeOp()
    ctx.api = createFakeApi(ctx.op)
    server.use(...ctx.op.handlers, ...ctx.api.handlers)
  })
  afterEach(() => server.resetHandlers())
  afterAll(() => server.close())
  return ctx
}
