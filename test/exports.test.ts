import { describe, expect, it } from 'vitest'
import * as entry from '../src/index.js'
import * as kyEntry from '../src/ky/index.js'
import * as reactEntry from '../src/react/index.js'
import * as vueEntry from '../src/vue/index.js'

describe('stepup-fetch exports', () => {
  it('pins the runtime exports of the root entry (DESIGN.md public contract)', () => {
    expect(Object.keys(entry).sort()).toEqual(['StepUpError', 'createStepUp', 'isStepUpError', 'parseWwwAuthenticate', 'popup', 'readStepUpChallenge', 'redirect'])
  })

  it('pins the runtime exports of stepup-fetch/ky, /react and /vue', () => {
    expect(Object.keys(kyEntry).sort()).toEqual(['createStepUpKy', 'stepUpHooks'])
    expect(Object.keys(reactEntry).sort()).toEqual(['StepUpPrompt', 'StepUpProvider', 'useStepUp', 'useStepUpClient', 'useStepUpFetch'])
    expect(Object.keys(vueEntry).sort()).toEqual(['StepUpPlugin', 'stepUpKey', 'useStepUp', 'useStepUpClient'])
  })

  it('imports without touching the DOM (Node, no window)', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined')
    expect(typeof entry.createStepUp).toBe('function')
  })
})
