import { afterEach, expect, it, vi } from 'vitest'
import { createStepUp, isStepUpError } from '../../src/index.js'

// Redirect mode and the redirect URI page live in a chunk loaded with import() (issue 5). When it
// cannot load (a deploy replaced it, the network, CSP), the public API still fails as documented:
// a StepUpError, shown in the state, and nothing half-done.
const options = { issuer: 'https://op.example', clientId: 'spa', redirectUri: 'https://app.example/cb', protect: ['https://api.example'] }

afterEach(() => {
  vi.doUnmock('../../src/core/redirect-mode.js')
})

it('handleCallback() and resume() reject with a StepUpError when the redirect-mode chunk does not load', async () => {
  vi.doMock('../../src/core/redirect-mode.js', () => {
    throw new TypeError('Failed to fetch dynamically imported module')
  })
  const stepUp = createStepUp(options)
  const error: unknown = await stepUp.handleCallback('https://app.example/cb?code=x&state=y').catch((e: unknown) => e)
  expect(isStepUpError(error, 'authorization_error')).toBe(true)
  expect((error as Error).message).toMatch(/redirect-mode chunk did not load .*reload the page/)
  expect(stepUp.getState()).toMatchObject({ status: 'error', error })
  const resumed: unknown = await stepUp.resume().catch((e: unknown) => e)
  expect(isStepUpError(resumed, 'authorization_error')).toBe(true)
})

it('resume() shows a chunk that does not load in the state too', async () => {
  vi.doMock('../../src/core/redirect-mode.js', () => {
    throw new TypeError('Failed to fetch dynamically imported module')
  })
  const stepUp = createStepUp(options)
  const error: unknown = await stepUp.resume().catch((e: unknown) => e)
  expect(isStepUpError(error, 'authorization_error')).toBe(true)
  expect((error as Error).message).toMatch(/redirect-mode chunk did not load .*reload the page/)
  expect(stepUp.getState()).toMatchObject({ status: 'error', error })
})
