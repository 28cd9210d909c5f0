// The built subpath entries, resolved through package.json "exports" like an app would (after `npm run build`).
import { readdirSync, readFileSync } from 'node:fs'
import { setupServer } from 'msw/node'
import { createElement } from 'react'
import { renderToString } from 'react-dom/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStepUp, StepUpError, type Interaction } from 'stepup-fetch'
import { createStepUpKy } from 'stepup-fetch/ky'
import { StepUpProvider, useStepUp } from 'stepup-fetch/react'
import { StepUpPlugin, useStepUp as useStepUpVue } from 'stepup-fetch/vue'
import { createSSRApp, defineComponent, h } from 'vue'
import { renderToString as renderVue } from 'vue/server-renderer'
import { createFakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'

const dist = new URL('../../dist/', import.meta.url)
const op = createFakeOp()
const api = createFakeApi(op)
const server = setupServer(...op.handlers, ...api.handlers)
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

/** The user takes 300 ms at the OP. */
const slowInteraction: Interaction = async (url, ctx) => {
  await new Promise((resolve) => setTimeout(resolve, 300))
  return op.interaction(url, ctx)
}
const client = () => createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: slowInteraction })

describe('dist: every subpath shares one core', () => {
  it('react.js starts with the "use client" directive; the others do not', () => {
    expect(readFileSync(new URL('react.js', dist), 'utf8').startsWith("'use client';\n")).toBe(true)
    for (const file of ['index.js', 'ky.js', 'vue.js']) expect(readFileSync(new URL(file, dist), 'utf8')).not.toMatch(/use client/)
  })

  it('ky.js and index.js, and every chunk they import, import neither react nor vue', () => {
    const importsOf = (file: string): string[] =>
      [...readFileSync(new URL(file, dist), 'utf8').matchAll(/(?:^|[;\s])(?:import|export)\s*(?:[^'"]*?\sfrom\s*)?['"]([^'"]+)['"]/g)].map((m) => m[1]!)
    for (const entry of ['ky.js', 'index.js']) {
      const seen = new Set<string>()
      const bare: string[] = []
      const visit = (file: string): void => {
        if (seen.has(file)) return
        seen.add(file)
        for (const specifier of importsOf(file)) {
          if (specifier.startsWith('./')) visit(specifier.slice(2))
          else bare.push(specifier)
        }
      }
      visit(entry)
      expect(bare.filter((s) => /^(react|react-dom|vue|@vue)(\/|$)/.test(s)), entry).toEqual([])
    }
    // The check itself sees imports: react.js and vue.js do import their frameworks.
    expect(importsOf('react.js')).toContain('react')
    expect(importsOf('vue.js')).toContain('vue')
  })

  it('defines StepUpError and the ky exchange key once across all built files', () => {
    const code = readdirSync(dist).filter((f) => f.endsWith('.js')).map((f) => readFileSync(new URL(f, dist), 'utf8'))
    expect(code.filter((c) => c.includes('class StepUpError')).length).toBe(1)
    expect(code.filter((c) => c.includes("Symbol('stepup-fetch.exchange')")).length).toBe(1)
  })

  it('ky: errors are instances of the root entry’s StepUpError, and the step-up outlasts ky’s timeout', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const api = createStepUpKy(stepUp, { prefix: API, timeout: 150 })
    // Only works when ky.js and index.js share the exchange key: otherwise ky times the whole step-up.
    expect((await api.post('transfer', { body: 'x' })).status).toBe(200)
    const error = await api.get('always').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StepUpError)
    expect(error).toMatchObject({ code: 'loop_detected' })
  })

  it('react: the built hooks read the client from the built provider', () => {
    const stepUp = client()
    const Probe = () => `status=${useStepUp().status}`
    expect(renderToString(createElement(StepUpProvider, { stepUp }, createElement(Probe)))).toBe('status=idle')
  })

  it('vue: the built plugin provides the client to the built composable', async () => {
    const stepUp = client()
    const Probe = defineComponent({ setup: () => ({ state: useStepUpVue() }), render() {
      return h('p', `status=${this.state.status}`)
    } })
    expect(await renderVue(createSSRApp(Probe).use(StepUpPlugin, { stepUp }))).toBe('<p>status=idle</p>')
  })
})
