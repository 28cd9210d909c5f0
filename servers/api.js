// A real resource server that answers RFC 9470 step-up challenges.
//
// It verifies `Authorization: Bearer <JWT>` access tokens from the OP (jose, keys from
// the OP's jwks_uri), then compares the token's `acr` and `auth_time` with what the
// route needs. When they fall short it answers
//
//   401 WWW-Authenticate: Bearer error="insufficient_user_authentication",
//       error_description="A different authentication level is required",
//       acr_values="urn:demo:loa:2fa", max_age=300
//
// (and, unless turned off, the same challenge as a JSON body). DPoP-bound tokens (RFC 9449)
// are accepted as `Authorization: DPoP <JWT>` with a `DPoP` proof, verified for real: the
// proof's signature, htm, htu, iat, jti and ath, and its key's thumbprint against the token's
// `cnf.jkt`; their challenges use the `DPoP` scheme. Plain Node http, no framework.
// Everything listens on 127.0.0.1 only.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { EmbeddedJWK, calculateJwkThumbprint, createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';

/** Signature algorithms accepted in DPoP proofs (the `algs` of our DPoP challenges). */
export const DPOP_ALGS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];
/** Seconds a DPoP proof's `iat` may be away from now. */
const DPOP_WINDOW = 300;

export const ACR_1FA = 'urn:demo:loa:1fa';
export const ACR_2FA = 'urn:demo:loa:2fa';

/**
 * The assurance order: a higher level satisfies a lower one (2fa satisfies 1fa).
 * An acr not listed here satisfies nothing.
 */
export const ACR_ORDER = [ACR_1FA, ACR_2FA];

/**
 * @typedef {object} RouteRule
 * @property {string} method e.g. "GET"
 * @property {string} path exact path, e.g. "/api/balance"
 * @property {string} [acr] minimum acr (in ACR_ORDER); omitted: any valid token
 * @property {number} [maxAge] seconds since auth_time, RFC 9470 max_age
 * @property {boolean} [public] no token needed at all
 * @property {boolean} [alwaysChallenge] answer the step-up challenge whatever the token
 * @property {(request: ApiRequest) => unknown} [respond] the JSON body of a 200
 */

/**
 * @typedef {object} ApiRequest what a route handler sees
 * @property {string} method
 * @property {string} path
 * @property {URLSearchParams} query
 * @property {http.IncomingHttpHeaders} headers
 * @property {Buffer} body raw request body
 * @property {import('jose').JWTPayload | undefined} token verified access token claims
 */

/**
 * @typedef {object} RequestRecord one entry of `api.requests`
 * @property {string} method
 * @property {string} path
 * @property {boolean} authorization whether an Authorization header was sent
 * @property {string | undefined} acr the verified token's acr
 * @property {number | undefined} authTime the verified token's auth_time
 * @property {string | undefined} sub
 * @property {number} status the answer's status code
 * @property {string | undefined} error invalid_token / insufficient_user_authentication /
 *   invalid_dpop_proof / use_dpop_nonce
 * @property {'Bearer' | 'DPoP' | undefined} scheme the Authorization scheme sent
 */

/**
 * @typedef {object} ApiOptions
 * @property {string} issuer the OP issuer; jwks_uri comes from its discovery document
 * @property {string} audience expected `aud` of access tokens (the OP's resource)
 * @property {string} [jwksUri] skip discovery and use this
 * @property {number} [port] default 0: a free port
 * @property {string | string[]} [allowOrigin] CORS origins; default: echo any Origin
 * @property {boolean} [exposeWwwAuthenticate] send Access-Control-Expose-Headers:
 *   WWW-Authenticate (default true; false reproduces the hidden-challenge case)
 * @property {boolean} [jsonBodyChallenge] repeat the step-up challenge as a JSON body (default true)
 * @property {number} [maxAgeLeeway] seconds of slack on max_age checks (default 5), so a
 *   token obtained for max_age=0 is good for the retry it was obtained for
 * @property {RouteRule[]} [routes] extra routes (or overrides of built-in ones)
 * @property {boolean} [requireDpopNonce] DPoP proofs must carry a nonce this server issued
 *   (answered with `use_dpop_nonce` and a `DPoP-Nonce` header; default false)
 */

/**
 * The built-in routes.
 * @type {RouteRule[]}
 */
export const DEFAULT_ROUTES = [
  { method: 'GET', path: '/api/public', public: true, respond: () => ({ hello: 'world' }) },
  {
    method: 'GET',
    path: '/api/balance',
    acr: ACR_1FA,
    respond: ({ token }) => ({
      balance: 1234.56,
      currency: 'EUR',
      sub: token?.sub,
      acr: token?.acr,
      auth_time: token?.auth_time,
    }),
  },
  {
    method: 'POST',
    path: '/api/transfer',
    acr: ACR_2FA,
    maxAge: 300,
    respond: ({ body, token }) => ({
      ok: true,
      transferred: body.length ? JSON.parse(body.toString('utf8')) : null,
      acr: token?.acr,
      auth_time: token?.auth_time,
    }),
  },
  {
    method: 'POST',
    path: '/api/echo',
    acr: ACR_2FA,
    respond: ({ method, headers, body, token }) => ({
      method,
      contentType: headers['content-type'] ?? null,
      bodyBase64: body.toString('base64'),
      bodyLength: body.length,
      headers,
      acr: token?.acr,
    }),
  },
  { method: 'GET', path: '/api/always-challenge', acr: ACR_2FA, alwaysChallenge: true },
  {
    method: 'GET',
    path: '/api/fresh',
    acr: ACR_2FA,
    maxAge: 0,
    respond: ({ token }) => ({ fresh: true, acr: token?.acr, auth_time: token?.auth_time }),
  },
];

/**
 * Does `acr` satisfy `required` in ACR_ORDER?
 * @param {string | undefined} required
 * @param {unknown} acr
 */
export function acrSatisfies(required, acr) {
  if (!required) return true;
  const have = typeof acr === 'string' ? ACR_ORDER.indexOf(acr) : -1;
  return have >= 0 && have >= ACR_ORDER.indexOf(required);
}

/**
 * Start the resource server.
 * @param {ApiOptions} options
 */
export async function startApi(options) {
  const { issuer, audience, maxAgeLeeway = 5 } = options;
  // Changeable at run time (configure()), so the demo can switch a misconfigured API on and off.
  let { exposeWwwAuthenticate = true, jsonBodyChallenge = true, requireDpopNonce = false } = options;
  let dpopNonce = randomBytes(16).toString('base64url');
  /** DPoP proof jti values seen, with when they may be forgotten (epoch seconds). */
  const seenJti = new Map();
  if (!issuer || !audience) throw new TypeError('startApi needs { issuer, audience }');

  /** @type {Map<string, RouteRule>} */
  const routes = new Map();
  for (const route of [...DEFAULT_ROUTES, ...(options.routes ?? [])]) {
    routes.set(`${route.method.toUpperCase()} ${route.path}`, route);
  }
  /** @type {RequestRecord[]} */
  const requests = [];

  // The OP's keys, found by discovery on first use (the OP may start after us).
  /** @type {Promise<ReturnType<typeof createRemoteJWKSet>> | undefined} */
  let jwks;
  const getJwks = () => {
    jwks ??= (async () => {
      let uri = options.jwksUri;
      if (!uri) {
        const res = await fetch(`${issuer}/.well-known/openid-configuration`);
        if (!res.ok) throw new Error(`discovery failed: ${res.status}`);
        uri = /** @type {{ jwks_uri: string }} */ (await res.json()).jwks_uri;
      }
      return createRemoteJWKSet(new URL(uri));
    })().catch((err) => {
      jwks = undefined;
      throw err;
    });
    return jwks;
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
      else res.destroy();
    });
  });

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    cors(req, res);

    // CORS preflight, for any path.
    if (method === 'OPTIONS') {
      const requested = String(req.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean);
      const allowHeaders = new Set(['authorization', 'content-type', 'dpop', ...requested]);
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
        'access-control-allow-headers': [...allowHeaders].join(', '),
        'access-control-max-age': '5',
      });
      res.end();
      return;
    }

    const body = await readBody(req);
    const route = routes.get(`${method} ${url.pathname}`);
    /** @type {RequestRecord} */
    const record = {
      method,
      path: url.pathname,
      authorization: req.headers.authorization !== undefined,
      scheme: undefined,
      acr: undefined,
      authTime: undefined,
      sub: undefined,
      status: 0,
      error: undefined,
    };
    requests.push(record);
    const send = (/** @type {number} */ status, /** @type {unknown} */ payload, headers = {}) => {
      record.status = status;
      json(res, status, payload, headers);
    };

    if (!route) return send(404, { error: 'not_found' });

    /** @type {import('jose').JWTPayload | undefined} */
    let token;
    if (!route.public) {
      // 1. A token at all? (RFC 6750 §3: no error code when none was sent.)
      const match = /^(Bearer|DPoP)\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(req.headers.authorization ?? '');
      const scheme = match?.[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
      if (match) record.scheme = scheme;
      if (!match) {
        if (route.alwaysChallenge) return stepUpChallenge(route, send, record);
        return send(401, { error: 'unauthorized', error_description: 'A bearer token is required' }, {
          'www-authenticate': 'Bearer realm="api"',
        });
      }

      // 2. A valid token from our OP, for us?
      try {
        ({ payload: token } = await jwtVerify(/** @type {string} */ (match[2]), await getJwks(), {
          issuer,
          audience,
          typ: 'at+jwt',
        }));
      } catch (err) {
        if (route.alwaysChallenge) return stepUpChallenge(route, send, record);
        const description = err instanceof joseErrors.JWTExpired ? 'The access token expired' : 'The access token is invalid';
        record.error = 'invalid_token';
        return send(401, { error: 'invalid_token', error_description: description }, {
          'www-authenticate': `Bearer realm="api", error="invalid_token", error_description="${description}"`,
        });
      }
      const claims = /** @type {import('jose').JWTPayload} */ (token);

      // 2b. Sender-constrained? A DPoP-bound token needs the DPoP scheme and a valid proof.
      const cnf = /** @type {{ jkt?: unknown } | undefined} */ (claims.cnf);
      const jkt = typeof cnf?.jkt === 'string' ? cnf.jkt : undefined;
      if (jkt !== undefined || scheme === 'DPoP') {
        const problem = await checkDpop(req, method, url, /** @type {string} */ (match[2]), jkt, scheme);
        if (problem) {
          record.error = problem.error;
          return send(401, { error: problem.error, error_description: problem.description }, {
            'www-authenticate': `DPoP error="${problem.error}", error_description="${problem.description}", algs="${DPOP_ALGS.join(' ')}"`,
            ...(problem.error === 'use_dpop_nonce' ? { 'dpop-nonce': dpopNonce } : {}),
          });
        }
      }
      record.acr = typeof claims.acr === 'string' ? claims.acr : undefined;
      record.authTime = typeof claims.auth_time === 'number' ? claims.auth_time : undefined;
      record.sub = claims.sub;

      // 3. Strong and recent enough for this route? (RFC 9470)
      if (route.alwaysChallenge || !acrSatisfies(route.acr, claims.acr)) {
        return stepUpChallenge(route, send, record, undefined, scheme);
      }
      if (route.maxAge !== undefined) {
        const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : undefined;
        const age = authTime === undefined ? Infinity : Math.floor(Date.now() / 1000) - authTime;
        if (age > route.maxAge + maxAgeLeeway) {
          return stepUpChallenge(route, send, record, 'More recent authentication is required', scheme);
        }
      }
    }

    let payload;
    try {
      payload = route.respond
        ? route.respond({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body, token })
        : { ok: true };
    } catch (err) {
      return send(400, { error: 'invalid_request', error_description: String(/** @type {Error} */ (err).message) });
    }
    return send(200, payload);
  }

  /**
   * The RFC 9470 challenge for `route`.
   * @param {RouteRule} route
   * @param {(status: number, payload: unknown, headers?: Record<string, string>) => void} send
   * @param {RequestRecord} record
   * @param {string} [description]
   * @param {'Bearer' | 'DPoP'} [scheme] the scheme the request used (DPoP challenges add `algs`)
   */
  function stepUpChallenge(route, send, record, description = 'A different authentication level is required', scheme = 'Bearer') {
    record.error = 'insufficient_user_authentication';
    const params = [
      'error="insufficient_user_authentication"',
      `error_description="${description}"`,
      ...(route.acr ? [`acr_values="${route.acr}"`] : []),
      ...(route.maxAge !== undefined ? [`max_age=${route.maxAge}`] : []),
    ];
    const body = jsonBodyChallenge
      ? {
          error: 'insufficient_user_authentication',
          error_description: description,
          ...(route.acr ? { acr_values: route.acr } : {}),
          ...(route.maxAge !== undefined ? { max_age: route.maxAge } : {}),
        }
      : { message: 'Unauthorized' };
    if (scheme === 'DPoP') params.push(`algs="${DPOP_ALGS.join(' ')}"`);
    send(401, body, { 'www-authenticate': `${scheme} ${params.join(', ')}` });
  }

  /**
   * RFC 9449 §4.3 and §7: the proof in the `DPoP` header for this request and this token.
   * @param {http.IncomingMessage} req
   * @param {string} method
   * @param {URL} url
   * @param {string} accessToken
   * @param {string | undefined} jkt the token's cnf.jkt
   * @param {'Bearer' | 'DPoP'} scheme
   * @returns {Promise<{ error: string, description: string } | undefined>}
   */
  async function checkDpop(req, method, url, accessToken, jkt, scheme) {
    const invalid = (/** @type {string} */ description) => ({ error: 'invalid_dpop_proof', description });
    if (jkt === undefined) return { error: 'invalid_token', description: 'The access token is not DPoP-bound: send it as Bearer' };
    if (scheme !== 'DPoP') return { error: 'invalid_token', description: 'The access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof' };
    const proof = req.headers.dpop;
    if (typeof proof !== 'string' || proof.includes(',')) return invalid('Exactly one DPoP proof is required');
    /** @type {import('jose').JWTPayload} */
    let payload;
    /** @type {import('jose').JWK | undefined} */
    let jwk;
    try {
      const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk;
    } catch {
      return invalid('The DPoP proof is not a valid dpop+jwt signed with its embedded key');
    }
    const now = Math.floor(Date.now() / 1000);
    // htu: this server's URL as the client called it, without query and fragment.
    const htu = `http://${req.headers.host}${url.pathname}`;
    if (payload.htm !== method) return invalid(`The DPoP proof's htm is not ${method}`);
    if (typeof payload.htu !== 'string' || payload.htu.split(/[?#]/)[0] !== htu) return invalid(`The DPoP proof's htu is not ${htu}`);
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > DPOP_WINDOW) return invalid('The DPoP proof is too old or from the future');
    if (typeof payload.jti !== 'string' || !payload.jti) return invalid('The DPoP proof has no jti');
    for (const [jti, until] of seenJti) if (until < now) seenJti.delete(jti);
    if (seenJti.has(payload.jti)) return invalid('The DPoP proof was used before');
    const ath = createHash('sha256').update(accessToken).digest('base64url');
    if (payload.ath !== ath) return invalid("The DPoP proof's ath does not match the access token");
    if (!jwk || (await calculateJwkThumbprint(jwk)) !== jkt) return invalid("The DPoP proof's key is not the one the token is bound to");
    if (requireDpopNonce && payload.nonce !== dpopNonce) return { error: 'use_dpop_nonce', description: 'Resource server requires nonce in DPoP proof' };
    seenJti.set(payload.jti, now + 2 * DPOP_WINDOW);
    return undefined;
  }

  /**
   * CORS headers on every answer.
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  function cors(req, res) {
    const origin = req.headers.origin;
    const allowed = options.allowOrigin;
    res.setHeader('vary', 'Origin');
    if (allowed === undefined) {
      res.setHeader('access-control-allow-origin', origin ?? '*');
    } else if (origin && (Array.isArray(allowed) ? allowed : [allowed]).includes(origin)) {
      res.setHeader('access-control-allow-origin', origin);
    } else if (allowed === '*') {
      res.setHeader('access-control-allow-origin', '*');
    }
    res.setHeader('access-control-expose-headers', exposeWwwAuthenticate ? 'WWW-Authenticate, DPoP-Nonce' : 'DPoP-Nonce');
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined));
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());

  return {
    /** e.g. "http://127.0.0.1:41235" (no trailing slash) */
    url: `http://127.0.0.1:${port}`,
    port,
    /** Every request except preflights, oldest first. */
    requests,
    /** Forget recorded requests. */
    resetRequests() {
      requests.length = 0;
    },
    /**
     * Change how challenges are sent from now on (omitted fields keep their value).
     * @param {{ exposeWwwAuthenticate?: boolean, jsonBodyChallenge?: boolean, requireDpopNonce?: boolean }} changes
     */
    configure(changes) {
      if (changes.exposeWwwAuthenticate !== undefined) exposeWwwAuthenticate = changes.exposeWwwAuthenticate;
      if (changes.jsonBodyChallenge !== undefined) jsonBodyChallenge = changes.jsonBodyChallenge;
      if (changes.requireDpopNonce !== undefined) requireDpopNonce = changes.requireDpopNonce;
      return { exposeWwwAuthenticate, jsonBodyChallenge, requireDpopNonce };
    },
    /** Issue a new DPoP nonce: proofs with the old one get `use_dpop_nonce` (when nonces are required). */
    rotateDpopNonce() {
      dpopNonce = randomBytes(16).toString('base64url');
      return dpopNonce;
    },
    /** Add or replace a route. */
    addRoute(/** @type {RouteRule} */ route) {
      routes.set(`${route.method.toUpperCase()} ${route.path}`, route);
    },
    /** Stop listening and drop open connections. */
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
      });
    },
  };
}

/** @param {http.IncomingMessage} req */
async function readBody(req) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} payload
 * @param {Record<string, string>} [headers]
 */
function json(res, status, payload, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(payload));
}
