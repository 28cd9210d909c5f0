// @vitest-environment node
// A page with <base href> pointing elsewhere: relative URLs must be checked against `protect`
// exactly as Chromium resolves them, or the token leaks to the base's origin.
import { beforeAll, expect, it } from 'vitest'
import { BROWSER_TIMEOUT, describeBrowser, useHarness, type Harness } from './harness.js'

describeBrowser('protect under <base href> in Chromium', () => {
  let h: Harness
  const ctx = useHarness()
  beforeAll(() => ({ h } = ctx))

  it('never attaches the token to a relative URL that <base href> sends to another origin', async () => {
    const context = await ctx.newContext()
    const page = await context.newPage()
    await page.goto(h.appUrl('popup'))
    // A string, not a function: vitest would rewrite import() inside a function it transforms.
    const seen = (await page.evaluate(`(async (foreign) => {
      // Import first: with the <base> in place, '/dist/index.js' would resolve to the foreign origin.
      const { createStepUp } = await import('/dist/index.js')
      const base = document.createElement('base')
      base.href = foreign + '/'
      document.head.prepend(base)
      // A signed-in session (storage: 'session' loads it), so there is a token to leak.
      sessionStorage.setItem('stepup-fetch:base-test:tokens', JSON.stringify([{ accessToken: 'secret', tokenType: 'Bearer', idToken: 'x', sub: 'alice', obtainedAt: Date.now() }]))
      const sent = []
      const stepUp = createStepUp({
        issuer: 'http://127.0.0.1:9', clientId: 'base-test', redirectUri: location.origin + '/callback.html',
        protect: [location.origin], storage: 'session',
        fetch: async (input, init) => {
          const request = new Request(input, init) // resolved by Chromium itself
          sent.push([request.url, request.headers.get('authorization')])
          return new Response('ok')
        },
      })
      await stepUp.fetch('api/me')
      await stepUp.fetch(location.origin + '/api/me')
      return sent
    })(${JSON.stringify(h.foreignOrigin)})`)) as Array<[string, string | null]>
    expect(seen).toEqual([
      [`${h.foreignOrigin}/api/me`, null],
      [`${new URL(h.appUrl('popup')).origin}/api/me`, 'Bearer secret'],
    ])
    await context.close()
  }, BROWSER_TIMEOUT)
})
