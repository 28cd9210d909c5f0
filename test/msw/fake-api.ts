import { http, HttpResponse } from 'msw'
import { API, challengeHeader, type FakeOp } from './fake-op.js'

export interface ApiCall {
  method: string
  path: string
  authorization: string | null
  body: string
  contentType: string | null
}

/** A scriptable resource server for unit tests: 1fa for reads, 2fa (max_age 300) for writes. */
export function createFakeApi(op: FakeOp) {
  const calls: ApiCall[] = []
  const record = async (request: Request): Promise<ApiCall> => {
    const bytes = new Uint8Array(await request.arrayBuffer())
    const call: ApiCall = {
      method: request.method,
      path: new URL(request.url).pathname,
      authorization: request.headers.get('authorization'),
      body: Buffer.from(bytes).toString('base64'),
      contentType: request.headers.get('content-type'),
    }
    calls.push(call)
    return call
  }
  /** No usable token: an expired one is refused with RFC 6750 invalid_token. */
  const unauthorized = (call: ApiCall, realm = true) =>
    op.isExpired(call.authorization)
      ? new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"' } })
      : new HttpResponse(null, { status: 401, headers: realm ? { 'WWW-Authenticate': 'Bearer realm="api"' } : {} })
  const needs = (acr: string, maxAge?: number) => async ({ request }: { request: Request }) => {
    const call = await record(request)
    const claims = op.claimsOf(call.authorization)
    const fresh = maxAge === undefined || (claims?.auth_time !== undefined && claims.auth_time + maxAge >= Math.floor(Date.now() / 1000))
    if (!claims) return unauthorized(call)
    if (claims.acr !== acr || !fresh) {
      return HttpResponse.json(
        { error: 'insufficient_user_authentication' },
        { status: 401, headers: { 'WWW-Authenticate': challengeHeader(acr, maxAge) } },
      )
    }
    return HttpResponse.json({ ok: true, acr: claims.acr, body: call.body, contentType: call.contentType })
  }
  const handlers = [
    http.get(`${API}/balance`, async ({ request }) => {
      const call = await record(request)
      return op.claimsOf(call.authorization) ? HttpResponse.json({ balance: 1 }) : unauthorized(call, false)
    }),
    http.post(`${API}/transfer`, needs('urn:test:2fa', 300)),
    http.post(`${API}/echo`, needs('urn:test:2fa')),
    http.get(`${API}/fresh`, needs('urn:test:2fa', 0)),
    http.get(`${API}/always`, async ({ request }) => {
      await record(request)
      return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:test:2fa') } })
    }),
  ]
  return { handlers, calls }
}

export type FakeApi = ReturnType<typeof createFakeApi>
