import { describe, expect, it } from 'vitest'
import {
  readStepUpChallenge,
  stepUpChallengeFromBody,
  stepUpChallengeFromHeader,
} from '../../src/challenge/read-step-up-challenge.js'
import type { StepUpChallenge } from '../../src/challenge/types.js'

const STEP_UP = 'insufficient_user_authentication'
const stepUpHeader = `Bearer error="${STEP_UP}", acr_values="urn:x:loa:2fa", max_age=300`
const stepUpBody = JSON.stringify({ error: STEP_UP, acr_values: 'urn:x:loa:body', max_age: 60 })

function respond(
  status: number,
  { header, body, contentType }: { header?: string; body?: BodyInit | null; contentType?: string | null } = {},
): Response {
  const headers = new Headers()
  if (header !== undefined) headers.set('www-authenticate', header)
  const response = new Response(body ?? null, { status, headers })
  // new Response(string) adds text/plain; set or remove the content type explicitly.
  if (contentType === null) response.headers.delete('content-type')
  else if (contentType !== undefined) response.headers.set('content-type', contentType)
  return response
}

function jsonResponse(body: string, status = 401, contentType = 'application/json'): Response {
  return respond(status, { body, contentType })
}

function streamOf(chunks: Array<Uint8Array | string>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk as Uint8Array)
      controller.close()
    },
  })
}

describe('readStepUpChallenge', () => {
  describe('status', () => {
    it.each([200, 400, 404, 500])('ignores %i without touching the body', async (status) => {
      const response = respond(status, { header: stepUpHeader, body: stepUpBody, contentType: 'application/json' })
      expect(await readStepUpChallenge(response)).toBeUndefined()
      expect(response.bodyUsed).toBe(false)
      expect(await response.text()).toBe(stepUpBody)
    })

    it.each([401, 403])('reads a challenge from %i', async (status) => {
      expect(await readStepUpChallenge(respond(status, { header: stepUpHeader }))).toEqual({
        acrValues: ['urn:x:loa:2fa'],
        maxAge: 300,
        scheme: 'bearer',
        source: 'header',
      })
      expect(await readStepUpChallenge(jsonResponse(stepUpBody, status))).toEqual({
        acrValues: ['urn:x:loa:body'],
        maxAge: 60,
        source: 'body',
      })
    })
  })

  describe('header', () => {
    it('reads the RFC 9470 §3 examples', async () => {
      const acr = respond(401, {
        header: `Bearer error="${STEP_UP}", error_description="A different authentication level is required", acr_values="myACR"`,
      })
      expect(await readStepUpChallenge(acr)).toEqual({
        acrValues: ['myACR'],
        scheme: 'bearer',
        description: 'A different authentication level is required',
        source: 'header',
      })
      const maxAge = respond(401, {
        header: `Bearer error="${STEP_UP}", error_description="More recent authentication is required", max_age="5"`,
      })
      expect(await readStepUpChallenge(maxAge)).toEqual({
        acrValues: [],
        maxAge: 5,
        scheme: 'bearer',
        description: 'More recent authentication is required',
        source: 'header',
      })
    })

    it('takes precedence over a JSON body, which stays unread', async () => {
      const response = respond(401, { header: stepUpHeader, body: stepUpBody, contentType: 'application/json' })
      expect(await readStepUpChallenge(response)).toMatchObject({ acrValues: ['urn:x:loa:2fa'], source: 'header' })
      expect(response.bodyUsed).toBe(false)
      expect(await response.text()).toBe(stepUpBody)
    })

    it.each([
      ['a malformed header', `Bearer error="${STEP_UP}", error="x"`],
      ['a header with an unterminated quote', `Bearer error="${STEP_UP}", acr_values="a`],
      ['a header without a step-up error', 'Bearer realm="api", error="invalid_token"'],
      ['a plain Bearer header', 'Bearer realm="api"'],
      ['a Basic header carrying the error', `Basic error="${STEP_UP}"`],
      ['a differently-cased error value', `Bearer error="INSUFFICIENT_USER_AUTHENTICATION"`],
      ['a token68 challenge', 'Bearer abc=='],
      ['an empty header', ''],
    ])('gives undefined for %s, even with a step-up body', async (_, header) => {
      const response = respond(401, { header, body: stepUpBody, contentType: 'application/json' })
      expect(await readStepUpChallenge(response)).toBeUndefined()
      expect(await response.text()).toBe(stepUpBody)
    })

    it('reads the DPoP scheme', async () => {
      const response = respond(401, { header: `DPoP algs="ES256", error="${STEP_UP}", acr_values="mfa"` })
      expect(await readStepUpChallenge(response)).toEqual({ acrValues: ['mfa'], scheme: 'dpop', source: 'header' })
    })

    it('lower-cases the scheme', async () => {
      const response = respond(403, { header: `BEARER ERROR=${STEP_UP}` })
      expect(await readStepUpChallenge(response)).toEqual({ acrValues: [], scheme: 'bearer', source: 'header' })
    })

    it('takes the first matching challenge among several', async () => {
      const header = [
        'Basic realm="x"',
        `Newauth error="${STEP_UP}", acr_values="newauth"`,
        'Bearer error="invalid_token", acr_values="invalid"',
        `DPoP error="${STEP_UP}", acr_values="first"`,
        `Bearer error="${STEP_UP}", acr_values="second"`,
      ].join(', ')
      expect(await readStepUpChallenge(respond(401, { header }))).toEqual({
        acrValues: ['first'],
        scheme: 'dpop',
        source: 'header',
      })
    })

    it('reads field lines joined by Headers.append', async () => {
      const headers = new Headers()
      headers.append('www-authenticate', 'Basic realm="x"')
      headers.append('www-authenticate', `Bearer error="${STEP_UP}", acr_values="joined"`)
      const response = new Response(null, { status: 401, headers })
      expect(await readStepUpChallenge(response)).toMatchObject({ acrValues: ['joined'], scheme: 'bearer' })
    })

    it.each([
      ['0', 0],
      ['300', 300],
      ['"300"', 300],
      ['007', 7],
      ['999999999999999', 999_999_999_999_999],
      ['-1', undefined],
      ['1.5', undefined],
      ['abc', undefined],
      ['""', undefined],
      ['"3 00"', undefined],
      ['1e3', undefined],
      ['+5', undefined],
      ['1000000000000000', undefined],
      ['9'.repeat(400), undefined],
    ])('max_age=%s gives maxAge %s and stays a step-up', async (raw, maxAge) => {
      const challenge = await readStepUpChallenge(respond(401, { header: `Bearer error="${STEP_UP}", max_age=${raw}` }))
      expect(challenge).toBeDefined()
      expect(challenge!.maxAge).toBe(maxAge)
      expect(Object.hasOwn(challenge!, 'maxAge')).toBe(maxAge !== undefined)
    })

    it.each([
      ['"a b c"', ['a', 'b', 'c']],
      ['"a   b"', ['a', 'b']],
      ['"a\tb \t c"', ['a', 'b', 'c']],
      ['"  lead trail  "', ['lead', 'trail']],
      ['""', []],
      ['"urn:x:loa:2fa urn:x:loa:1fa"', ['urn:x:loa:2fa', 'urn:x:loa:1fa']],
      ['token-value', ['token-value']],
      ['"b a b"', ['b', 'a', 'b']],
    ])('acr_values=%s gives %j', async (raw, acrValues) => {
      const challenge = await readStepUpChallenge(respond(401, { header: `Bearer error="${STEP_UP}", acr_values=${raw}` }))
      expect(challenge?.acrValues).toEqual(acrValues)
    })

    it('gives [] without acr_values and leaves out absent optional fields', async () => {
      const challenge = await readStepUpChallenge(respond(401, { header: `Bearer error="${STEP_UP}"` }))
      expect(challenge).toEqual({ acrValues: [], scheme: 'bearer', source: 'header' })
      expect(Object.keys(challenge!).sort()).toEqual(['acrValues', 'scheme', 'source'])
    })

    it('keeps an empty error_description', async () => {
      const challenge = await readStepUpChallenge(respond(401, { header: `Bearer error="${STEP_UP}", error_description=""` }))
      expect(challenge?.description).toBe('')
    })
  })

  describe('JSON body (no WWW-Authenticate header)', () => {
    it('reads the body from a clone and leaves the caller a readable body', async () => {
      const body = JSON.stringify({
        error: STEP_UP,
        acr_values: 'a  b',
        max_age: 0,
        error_description: 'Step up, please',
      })
      const response = jsonResponse(body)
      expect(await readStepUpChallenge(response)).toEqual({
        acrValues: ['a', 'b'],
        maxAge: 0,
        description: 'Step up, please',
        source: 'body',
      })
      expect(response.bodyUsed).toBe(false)
      expect(await response.text()).toBe(body)
    })

    it.each([
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      ' application/json ;charset=UTF-8',
      'application/problem+json',
      'application/vnd.api+JSON; ext=x',
      'text/json',
    ])('reads content-type %j', async (contentType) => {
      expect(await readStepUpChallenge(jsonResponse(stepUpBody, 401, contentType))).toMatchObject({ source: 'body' })
    })

    it.each(['text/plain', 'text/html; charset=utf-8', 'application/jsonx', 'json', '/json', 'application/x-www-form-urlencoded'])(
      'ignores content-type %j',
      async (contentType) => {
        const response = jsonResponse(stepUpBody, 401, contentType)
        expect(await readStepUpChallenge(response)).toBeUndefined()
        expect(await response.text()).toBe(stepUpBody)
      },
    )

    it('ignores a body without a content type', async () => {
      const response = respond(401, { body: new TextEncoder().encode(stepUpBody), contentType: null })
      expect(response.headers.get('content-type')).toBeNull()
      expect(await readStepUpChallenge(response)).toBeUndefined()
    })

    it.each([
      ['invalid JSON', '{"error":'],
      ['an empty body', ''],
      ['a JSON array', `[${stepUpBody}]`],
      ['JSON null', 'null'],
      ['a JSON string', `"${STEP_UP}"`],
      ['another error', JSON.stringify({ error: 'invalid_token' })],
      ['no error', JSON.stringify({ acr_values: 'a' })],
      ['a nested error', JSON.stringify({ error: { code: STEP_UP } })],
      ['acr_values as a number', JSON.stringify({ error: STEP_UP, acr_values: 2 })],
      ['acr_values as an object', JSON.stringify({ error: STEP_UP, acr_values: { a: 1 } })],
      ['acr_values with a non-string entry', JSON.stringify({ error: STEP_UP, acr_values: ['a', 1] })],
    ])('gives undefined for %s', async (_, body) => {
      expect(await readStepUpChallenge(jsonResponse(body))).toBeUndefined()
    })

    it.each([
      [['a', 'b'], ['a', 'b']],
      [['a b', ' c '], ['a', 'b', 'c']],
      [['', 'a'], ['a']],
      [[], []],
      [null, []],
      ['', []],
      ['a\tb', ['a', 'b']],
    ])('acr_values %j gives %j', async (acrValues, expected) => {
      const challenge = await readStepUpChallenge(jsonResponse(JSON.stringify({ error: STEP_UP, acr_values: acrValues })))
      expect(challenge?.acrValues).toEqual(expected)
    })

    it.each([
      ['300', 300],
      ['0', 0],
      ['-0', 0],
      ['"300"', 300],
      ['"0"', 0],
      ['1e3', 1000],
      ['999999999999999', 999_999_999_999_999],
      ['-1', undefined],
      ['1.5', undefined],
      ['"1.5"', undefined],
      ['"abc"', undefined],
      ['"-1"', undefined],
      ['1e15', undefined],
      ['1e300', undefined],
      ['true', undefined],
      ['null', undefined],
      ['[300]', undefined],
      [`"${'9'.repeat(16)}"`, undefined],
    ])('max_age %s gives maxAge %s and stays a step-up', async (raw, maxAge) => {
      const challenge = await readStepUpChallenge(jsonResponse(`{"error":"${STEP_UP}","max_age":${raw}}`))
      expect(challenge).toBeDefined()
      expect(Object.is(challenge!.maxAge, maxAge)).toBe(true)
      expect(Object.hasOwn(challenge!, 'maxAge')).toBe(maxAge !== undefined)
    })

    it('ignores a non-string error_description', async () => {
      const challenge = await readStepUpChallenge(jsonResponse(JSON.stringify({ error: STEP_UP, error_description: 5 })))
      expect(challenge).toEqual({ acrValues: [], source: 'body' })
    })

    it('strips a UTF-8 byte order mark like Response.text()', async () => {
      const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(stepUpBody)])
      expect(await readStepUpChallenge(respond(401, { body: bytes, contentType: 'application/json' }))).toMatchObject({
        source: 'body',
      })
    })

    it('reads a body that arrives in several chunks', async () => {
      const bytes = new TextEncoder().encode(stepUpBody)
      const body = streamOf([bytes.subarray(0, 5), bytes.subarray(5, 20), bytes.subarray(20)])
      const response = respond(401, { body, contentType: 'application/json' })
      expect(await readStepUpChallenge(response)).toMatchObject({ acrValues: ['urn:x:loa:body'], source: 'body' })
      expect(await response.text()).toBe(stepUpBody)
    })

    it('reads a body of exactly 64 KiB', async () => {
      const body = stepUpBody.padEnd(64 * 1024, ' ')
      expect(await readStepUpChallenge(jsonResponse(body))).toMatchObject({ source: 'body' })
    })

    it('ignores a body over 64 KiB without Content-Length, leaving the caller all of it', async () => {
      const body = stepUpBody.padEnd(64 * 1024 + 1, ' ')
      const response = jsonResponse(body)
      expect(await readStepUpChallenge(response)).toBeUndefined()
      expect(await response.text()).toBe(body)
    })

    it('ignores a large streamed body after 64 KiB', async () => {
      const chunk = new TextEncoder().encode(' '.repeat(16 * 1024))
      const body = streamOf([new TextEncoder().encode(stepUpBody), chunk, chunk, chunk, chunk, chunk])
      const response = respond(401, { body, contentType: 'application/json' })
      expect(await readStepUpChallenge(response)).toBeUndefined()
      expect((await response.text()).length).toBe(stepUpBody.length + 5 * 16 * 1024)
    })

    it('refuses a body whose Content-Length is over 64 KiB without reading it', async () => {
      const response = jsonResponse(stepUpBody)
      response.headers.set('content-length', String(64 * 1024 + 1))
      expect(await readStepUpChallenge(response)).toBeUndefined()
      expect(await response.text()).toBe(stepUpBody)
    })

    it('ignores an invalid Content-Length and relies on the byte cap', async () => {
      const response = jsonResponse(stepUpBody)
      response.headers.set('content-length', '12, 12')
      expect(await readStepUpChallenge(response)).toMatchObject({ source: 'body' })
    })

    it('gives undefined when the body was already used', async () => {
      const response = jsonResponse(stepUpBody)
      await response.text()
      expect(await readStepUpChallenge(response)).toBeUndefined()
    })

    it('gives undefined when the caller holds a reader on the body, which stays usable', async () => {
      const response = jsonResponse(stepUpBody)
      const reader = response.body!.getReader()
      expect(await readStepUpChallenge(response)).toBeUndefined()
      const { value } = await reader.read()
      expect(new TextDecoder().decode(value)).toBe(stepUpBody)
    })

    it('gives undefined for a 401 without a body', async () => {
      expect(await readStepUpChallenge(respond(401, { contentType: 'application/json' }))).toBeUndefined()
    })

    it('gives undefined when the body stream errors', async () => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new Error('connection reset'))
        },
      })
      expect(await readStepUpChallenge(respond(401, { body, contentType: 'application/json' }))).toBeUndefined()
    })

    it('gives undefined when the stream yields something other than bytes', async () => {
      const body = streamOf([stepUpBody])
      expect(await readStepUpChallenge(respond(401, { body, contentType: 'application/json' }))).toBeUndefined()
    })
  })

  describe('Response-like objects', () => {
    function fake(text: string, extra: Partial<Record<'bodyUsed', boolean>> = {}) {
      let texts = 0
      const response = {
        status: 401,
        headers: new Headers({ 'content-type': 'application/json' }),
        bodyUsed: extra.bodyUsed ?? false,
        clone: () => ({
          body: undefined,
          text: async () => {
            texts++
            return text
          },
        }),
        get texts() {
          return texts
        },
      }
      return response
    }

    it('falls back to clone().text() when there is no body stream', async () => {
      const response = fake(stepUpBody)
      expect(await readStepUpChallenge(response as unknown as Response)).toMatchObject({ source: 'body' })
      expect(response.texts).toBe(1)
    })

    it('checks the text length after clone().text()', async () => {
      const response = fake(stepUpBody.padEnd(64 * 1024 + 1, ' '))
      expect(await readStepUpChallenge(response as unknown as Response)).toBeUndefined()
    })

    it('does not clone a used body', async () => {
      const response = fake(stepUpBody, { bodyUsed: true })
      expect(await readStepUpChallenge(response as unknown as Response)).toBeUndefined()
      expect(response.texts).toBe(0)
    })

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a string', 'response'],
      ['an empty object', {}],
      ['an object without headers', { status: 401, clone: () => ({}) }],
      ['an object without clone', { status: 401, headers: new Headers() }],
      ['an object with a string status', { status: '401', headers: new Headers(), clone: () => ({}) }],
    ])('rejects %s with a TypeError (ERR_INVALID_ARG_TYPE)', async (_, value) => {
      const promise = readStepUpChallenge(value as unknown as Response)
      await expect(promise).rejects.toBeInstanceOf(TypeError)
      await expect(promise).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: '"response" must be a Response' })
    })
  })
})

describe('stepUpChallengeFromHeader', () => {
  it('gives undefined for a missing header', () => {
    expect(stepUpChallengeFromHeader(null)).toBeUndefined()
  })

  it("gives 'malformed' for a header that breaks RFC 9110", () => {
    expect(stepUpChallengeFromHeader('Bearer error="a" error="b"')).toBe('malformed')
    expect(stepUpChallengeFromHeader('Bearer realm="\u20ac"')).toBe('malformed')
  })

  it('works synchronously', () => {
    const challenge: StepUpChallenge | undefined | 'malformed' = stepUpChallengeFromHeader(
      `Bearer error="${STEP_UP}", max_age=0`,
    )
    expect(challenge).toEqual({ acrValues: [], maxAge: 0, scheme: 'bearer', source: 'header' })
  })

  it('does not take parameters from the prototype', () => {
    expect(stepUpChallengeFromHeader(`Bearer constructor="${STEP_UP}"`)).toBeUndefined()
    expect(stepUpChallengeFromHeader(`Bearer error="${STEP_UP}", __proto__=x`)).toEqual({
      acrValues: [],
      scheme: 'bearer',
      source: 'header',
    })
  })
})

describe('stepUpChallengeFromBody', () => {
  it.each([undefined, null, 0, STEP_UP, [], [{ error: STEP_UP }]])('gives undefined for %j', (json) => {
    expect(stepUpChallengeFromBody(json)).toBeUndefined()
  })

  it('reads own properties only', () => {
    expect(stepUpChallengeFromBody(Object.create({ error: STEP_UP }))).toBeUndefined()
    const inherited = Object.assign(Object.create({ acr_values: 'proto', max_age: 5 }), { error: STEP_UP })
    expect(stepUpChallengeFromBody(inherited)).toEqual({ acrValues: [], source: 'body' })
  })

  it('reads a parsed body with a __proto__ key as data', () => {
    const json: unknown = JSON.parse(`{"__proto__":{"error":"${STEP_UP}"}}`)
    expect(stepUpChallengeFromBody(json)).toBeUndefined()
  })

  it('reads the full form', () => {
    expect(
      stepUpChallengeFromBody({ error: STEP_UP, acr_values: ['mfa', 'hwk'], max_age: '300', error_description: 'x' }),
    ).toEqual({ acrValues: ['mfa', 'hwk'], maxAge: 300, description: 'x', source: 'body' })
  })
})
