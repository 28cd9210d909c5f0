import { describe, expect, it } from 'vitest'
import * as entry from '../src/index.js'

describe('stepup-fetch exports', () => {
  it('pins the runtime exports of the root entry (DESIGN.md public contract)', () => {
    expect(Object.keys(entry).sort()).toEqual(['StepUpError', 'createStepUp', 'isStepUpError', 'parseWwwAuthenticate', 'popup', 'readStepUpChallenge', 'redirect'])
  })

  it('imports without touching the DOM (Node, no window)', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined')
    expect(typeof entry.createStepUp).toBe('function')
  })
})
