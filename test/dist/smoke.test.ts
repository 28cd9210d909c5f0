// The built package, resolved through package.json "exports" like an app would (run after `npm run build`).
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStepUp, isStepUpError, parseWwwAuthenticate, StepUpError } from 'stepup-fetch'
import { createFakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'

const op = createFakeOp()
const api = createFakeApi(op)
const server = setupServer(...op.handlers, ...api.handlers)
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

describe('dist/index.js', () => {
  it('runs a step-up and a retry', async () => {
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    expect(res.status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
  })

  it('exports one StepUpError class and the parser', () => {
    expect(() => parseWwwAuthenticate('Bearer a="unterminated')).toThrow(StepUpError)
    expect(isStepUpError(new StepUpError('aborted', 'x'), 'aborted')).toBe(true)
  })
})
