// A real OpenID Provider for the integration tests and the demo.
//
// It is oidc-provider (a certified OP) with a small login page of our own that can
// finish at two assurance levels:
//
//   urn:demo:loa:1fa  password only              amr ["pwd"]
//   urn:demo:loa:2fa  password + one-time code   amr ["pwd", "otp"]
//
// Demo credentials: ANY username with the password `password` (the page suggests
// `alice`). The sub of the resulting tokens is the username. The one-time code is
// shown on the login page itself ("Your one-time code is 123456").
//
// What makes step-up work against oidc-provider (see docs in servers/README.md):
//   * a custom `Check` in the login prompt re-prompts when the request carries
//     `acr_values` and the session's acr is not among them (oidc-provider alone
//     would happily reuse a 1fa session for a 2fa request);
//   * `acr`, `amr`, `auth_time` are mapped to the `openid` scope so they reach the
//     ID token, and `extraTokenClaims` copies them into the JWT access token.
//
// Everything listens on 127.0.0.1 only.

import { createHmac, generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import http from 'node:http';

export const ACR_1FA = 'urn:demo:loa:1fa';
export const ACR_2FA = 'urn:demo:loa:2fa';
export const DEMO_PASSWORD = 'password';
export const DEFAULT_CLIENT_ID = 'spa';
export const DEFAULT_REDIRECT_URIS = ['http://127.0.0.1:5173/callback'];
export const DEFAULT_RESOURCE = 'http://127.0.0.1/api';

/**
 * oidc-provider prints "Unsupported runtime. Use Node.js v22.x LTS" when it is first
 * imported on Node 20. It is a warning only; we load the module lazily with that
 * one line filtered out.
 * @type {Promise<typeof import('oidc-provider')> | undefined}
 */
let oidcProviderModule;
function loadOidcProvider() {
  oidcProviderModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args) => {
      if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return oidcProviderModule;
}

/**
 * @typedef {object} OpOptions
 * @property {number} [port] TCP port on 127.0.0.1; 0 (default) picks a free one.
 * @property {string} [clientId] client_id of the built-in public SPA client (default "spa").
 * @property {string[]} [redirectUris] redirect_uris of the built-in SPA client.
 * @property {Record<string, unknown>[]} [clients] extra client metadata; one with the
 *   built-in client's client_id replaces it.
 * @property {string[]} [corsOrigins] origins allowed to call the token endpoint with CORS,
 *   in addition to the origins of each public client's redirect_uris.
 * @property {string} [resource] the API's resource indicator = access token audience.
 * @property {string} [resourceScope] space-separated scopes of the API (default "api").
 * @property {number} [accessTokenTtl] seconds (default 300).
 * @property {number} [idTokenTtl] seconds (default 600).
 * @property {string} [otpSecret] key of the per-interaction one-time codes (default random).
 * @property {boolean} [refreshTokens] issue a rotating refresh token with every code exchange
 *   (default true; false: sessions end when the access token expires).
 * @property {number} [refreshTokenTtl] seconds (default 86400).
 */

/**
 * @typedef {object} LoginRecord
 * @property {string} uid interaction id
 * @property {string} accountId
 * @property {string} acr
 * @property {string[]} amr
 * @property {number} authTime
 */

/**
 * @typedef {object} NextLoginInfo
 * @property {string} uid interaction id
 * @property {string} username what the form said
 * @property {boolean} twoFactor whether the correct one-time code was given
 * @property {string[]} requested the acr values the request asked for
 */

/**
 * @typedef {object} LoginOverride
 * @property {string} [accountId]
 * @property {string} [acr]
 * @property {string[]} [amr]
 * @property {number} [authTimeAgo] seconds
 * @property {string} [error] finish the interaction with this OAuth error instead
 * @property {string} [errorDescription]
 */

/** @typedef {(info: NextLoginInfo) => LoginOverride | undefined | void} NextLogin */

/**
 * Start the OP.
 * @param {OpOptions} [options]
 */
export async function startOp(options = {}) {
  const { default: Provider, interactionPolicy, errors } = await loadOidcProvider();
  const { Check, base } = interactionPolicy;

  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  const redirectUris = options.redirectUris ?? DEFAULT_REDIRECT_URIS;
  const resource = options.resource ?? DEFAULT_RESOURCE;
  const resourceScope = options.resourceScope ?? 'api';
  const accessTokenTtl = options.accessTokenTtl ?? 300;
  const idTokenTtl = options.idTokenTtl ?? 600;
  const otpSecret = options.otpSecret ?? randomBytes(32).toString('hex');
  const refreshTokens = options.refreshTokens ?? true;
  const refreshTokenTtl = options.refreshTokenTtl ?? 24 * 60 * 60;

  // ---- Test knobs: each stays in effect until set back to null (or resetKnobs()).
  const knobs = {
    /** @type {string | null} */ loginAcr: null,
    /** @type {{ error: string, description: string } | null} */ interactionError: null,
    /** @type {string | null} */ accountId: null,
    /** @type {number | null} */ authTimeAgo: null,
    dpopNonce: false,
  };
  /** @type {NextLogin | null} */
  let nextLogin = null;
  /** @type {LoginRecord[]} */
  const logins = [];

  // ---- The HTTP server comes first: the issuer must contain the chosen port.
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined));
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const issuer = `http://127.0.0.1:${address.port}`;

  // ---- Interaction policy: the stock login + consent prompts, plus step-up checks.
  const policy = base();
  const loginPrompt = policy.get('login');

  // The step-up check (oidc-provider only re-prompts for max_age, prompt=login or an
  // essential claims acr). A login that just happened in this very authorization
  // request (ctx.oidc.result.login) is let through whatever acr it reached: acr_values
  // are a voluntary claim request (OIDC Core 3.1.2.1), so the OP asks once and then returns what the
  // user achieved; the client must check the acr. That is also what lets the
  // setLoginAcr() override return a lower acr than requested.
  loginPrompt.checks.add(
    new Check('acr_values_not_satisfied', 'the session does not satisfy the requested acr_values', (ctx) => {
      const requested = ctx.oidc.params.acr_values;
      if (typeof requested !== 'string' || !requested.trim()) return Check.NO_NEED_TO_PROMPT;
      if (!ctx.oidc.session.accountId) return Check.REQUEST_PROMPT;
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      return requested.split(/\s+/).includes(String(ctx.oidc.acr))
        ? Check.NO_NEED_TO_PROMPT
        : Check.REQUEST_PROMPT;
    }),
  );

  // The built-in essential acr checks keep prompting until the session acr matches
  // (oidc-provider enforces an essential claims acr). A login whose acr a test forced
  // (setLoginAcr / setNextLogin) is let through, so a test can make the OP lie.
  for (const reason of ['essential_acrs', 'essential_acr']) {
    const check = loginPrompt.checks.get(reason);
    if (!check) continue;
    const builtin = check.check;
    check.check = (ctx) => (ctx.oidc.result?.acrOverridden === true ? Check.NO_NEED_TO_PROMPT : builtin(ctx));
  }

  // setInteractionError(): force an interaction even when the SSO session would do,
  // so the error can be delivered.
  loginPrompt.checks.add(
    new Check('test_interaction_error', 'a test asked for an interaction error', () =>
      knobs.interactionError ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );

  // ---- Clients
  /** @type {Record<string, unknown>} */
  const spaClient = {
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris.map((uri) => new URL(uri).origin + '/'),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
  const extraClients = options.clients ?? [];
  const clients = [
    ...(extraClients.some((c) => c.client_id === clientId) ? [] : [spaClient]),
    ...extraClients,
  ];
  const corsOrigins = new Set(options.corsOrigins ?? []);

  const configuration = {
    adapter: memoryAdapter(),
    clients: /** @type {any} */ (clients),
    jwks: { keys: [await signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },

    // ID tokens and JWT access tokens are signed with the ES256 key above.
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'ES256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },

    acrValues: [ACR_1FA, ACR_2FA],
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name'],
    },
    scopes: ['openid', 'offline_access', 'profile'],
    responseTypes: ['code'],

    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, name: sub.charAt(0).toUpperCase() + sub.slice(1) };
        },
      };
    },

    // Consent: this is a first-party client, so every authorization gets a Grant for
    // what it asks (OIDC scopes, claims, the API's scopes) and the consent prompt
    // never shows. (oidc-provider's documented "skip consent" pattern.)
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const accountId = oidc.session.accountId;
      if (!accountId || !oidc.client) return undefined;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== accountId) {
        grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
      }
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
        const scopes = [...oidc.requestParamScopes].filter((s) => resourceServer.scopes.has(s));
        if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
      }
      await grant.save();
      return grant;
    },

    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },

    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      // RFC 9449. Tokens requested with a DPoP proof are bound to its key (cnf.jkt in the JWT
      // access token, and the refresh token of a public client). Nonces only when a test asks.
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => knobs.dpopNonce },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter → the API. Its access tokens are JWTs.
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? resource,
        // The token request need not repeat the resource.
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, indicator) {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: resourceScope,
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: accessTokenTtl,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },

    // acr, amr and auth_time of the login that the token comes from, in the JWT
    // access token, so the API can decide on step-up.
    extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken') return undefined;
      const entities = ctx?.oidc?.entities ?? {};
      const source = entities.AuthorizationCode ?? entities.RefreshToken ?? entities.DeviceCode;
      if (!source) return undefined;
      /** @type {Record<string, unknown>} */
      const claims = {};
      if (source.acr !== undefined) claims.acr = source.acr;
      if (source.amr !== undefined) claims.amr = source.amr;
      if (source.authTime !== undefined) claims.auth_time = source.authTime;
      return claims;
    },

    // The SPA is a different origin; discovery and jwks answer CORS for anyone, the
    // token endpoint only for the origins of the client's redirect_uris.
    clientBasedCORS(_ctx, origin, client) {
      if (corsOrigins.has(origin)) return true;
      if (client.clientAuthMethod !== 'none') return false;
      return client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin);
    },

    pkce: { required: () => true },

    // Refresh tokens for the SPA without offline_access (which oidc-provider keeps only with
    // prompt=consent), rotated on every use: a used one is refused, and its reuse revokes the
    // grant. A refresh keeps the acr, amr and auth_time of the login it came from.
    issueRefreshToken: async (_ctx, client) => refreshTokens && client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,

    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: idTokenTtl,
      Interaction: 600,
      Session: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
      RefreshToken: refreshTokenTtl,
    },

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Sign-in error',
        `<h1>Something went wrong</h1>
         <p class="error" id="error">${escapeHtml(out.error)}${out.error_description ? `: ${escapeHtml(out.error_description)}` : ''}</p>`,
      );
    },
  };

  /** @type {any} */
  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    server.close();
    throw err;
  }

  // ---- The interaction (login) pages, in front of oidc-provider's own routes.
  const providerCallback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(url.pathname);
    if (!match) {
      providerCallback(req, res);
      return;
    }
    const [, uid, action] = match;
    handleInteraction(req, res, /** @type {string} */ (uid), action).catch((err) => {
      if (!res.headersSent) {
        const status = err instanceof errors.SessionNotFound ? 400 : 500;
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          page(
            'Sign-in error',
            `<h1>This sign-in has expired</h1><p class="error" id="error">${escapeHtml(err.message)}</p>
             <p>Go back to the application and start again.</p>`,
          ),
        );
      } else {
        res.destroy(err);
      }
    });
  });

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   * @param {string} uid
   * @param {string | undefined} action
   */
  async function handleInteraction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
    const otp = otpFor(uid);

    if (knobs.interactionError) {
      const { error, description } = knobs.interactionError;
      await provider.interactionFinished(req, res, { error, error_description: description }, { mergeWithLastSubmission: false });
      return;
    }

    if (details.prompt.name === 'consent') {
      // Not reached with loadExistingGrant above; kept as the documented fallback.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
      if (!grant) throw new errors.SessionNotFound('grant not found');
      grant.addOIDCScope(String(details.params.scope ?? 'openid'));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }

    const requirement = requestedAcr(details.params);
    const view = {
      uid,
      otp,
      requirement,
      sessionAccount: details.session?.accountId,
      loginHint: typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined,
      reasons: details.prompt.reasons,
    };

    if (req.method === 'GET' && !action) {
      sendHtml(res, 200, loginPage(view));
      return;
    }
    if (req.method !== 'POST' || !action) {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }

    if (action === 'abort') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
      return;
    }

    // action === 'login'
    const form = new URLSearchParams(await readBody(req));
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const code = (form.get('otp') ?? '').replace(/\s+/g, '');
    const again = (/** @type {string} */ error) =>
      sendHtml(res, 200, loginPage({ ...view, error, username }));

    if (!username || password !== DEMO_PASSWORD) return again('Wrong username or password.');
    if (code && code !== otp) return again('That one-time code is not correct.');
    const twoFactor = code === otp;
    if (!twoFactor && requirement.essential && requirement.needsOtp && knobs.loginAcr === null && !nextLogin) {
      return again('This sign-in requires the one-time code.');
    }

    const override = nextLogin?.({ uid, username, twoFactor, requested: requirement.values }) ?? {};
    if (override.error) {
      await provider.interactionFinished(
        req,
        res,
        { error: override.error, error_description: override.errorDescription ?? 'set by a test' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const accountId = override.accountId ?? knobs.accountId ?? username;
    const forcedAcr = override.acr ?? knobs.loginAcr;
    const acr = forcedAcr ?? (twoFactor ? ACR_2FA : ACR_1FA);
    const amr = override.amr ?? (twoFactor ? ['pwd', 'otp'] : ['pwd']);
    const ts = Math.floor(Date.now() / 1000) - (override.authTimeAgo ?? knobs.authTimeAgo ?? 0);
    logins.push({ uid, accountId, acr, amr, authTime: ts });

    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, acr, amr, ts, remember: true }, acrOverridden: forcedAcr != null },
      { mergeWithLastSubmission: false },
    );
  }

  /** A per-interaction one-time code: 6 digits derived from the interaction id. */
  function otpFor(/** @type {string} */ uid) {
    const mac = createHmac('sha256', otpSecret).update(uid).digest();
    return String(mac.readUInt32BE(0) % 1_000_000).padStart(6, '0');
  }

  return {
    /** The issuer identifier, e.g. "http://127.0.0.1:41234" (no trailing slash). */
    issuer,
    /** Same as issuer. */
    url: issuer,
    port: address.port,
    clientId,
    redirectUri: /** @type {string} */ (redirectUris[0]),
    resource,
    /** The oidc-provider instance. */
    provider,
    /** Every successful login form submission, oldest first. */
    logins,
    /** The one-time code that the login page of interaction `uid` shows. */
    otpFor,
    /** Make logins finish with this acr whatever the user entered (null: off). */
    setLoginAcr(/** @type {string | null} */ acr) {
      knobs.loginAcr = acr;
    },
    /** Make interactions finish with this OAuth error (null: off). */
    setInteractionError(/** @type {string | null} */ error, description = 'set by a test') {
      knobs.interactionError = error === null ? null : { error, description };
    },
    /** Make logins use this accountId (sub) whatever the username (null: off). */
    setAccountId(/** @type {string | null} */ id) {
      knobs.accountId = id;
    },
    /** Make logins record auth_time this many seconds in the past (null: off). */
    setAuthTimeAgo(/** @type {number | null} */ seconds) {
      knobs.authTimeAgo = seconds;
    },
    /**
     * Decide the outcome of logins in code: `fn` runs after the password (and code) were
     * accepted and may override acr, amr, accountId, auth_time or fail with an OAuth
     * error. Takes precedence over the other knobs. null: off.
     */
    setNextLogin(/** @type {NextLogin | null} */ fn) {
      nextLogin = fn;
    },
    /** Require a server-provided nonce in DPoP proofs at the token endpoint (`use_dpop_nonce`). */
    setRequireDpopNonce(/** @type {boolean} */ on) {
      knobs.dpopNonce = on;
    },
    /** Turn every knob off and forget recorded logins. */
    resetKnobs() {
      knobs.dpopNonce = false;
      knobs.loginAcr = null;
      knobs.interactionError = null;
      knobs.accountId = null;
      knobs.authTimeAgo = null;
      nextLogin = null;
      logins.length = 0;
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

// ---------------------------------------------------------------------------------
// helpers

/**
 * Storage for oidc-provider's models (sessions, codes, grants, ...), in memory and per
 * OP instance. (oidc-provider's own in-memory adapter is process-wide and warns.)
 */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
function memoryAdapter() {
  /** @type {Map<string, { payload: any, expiresAt: number }>} */
  const store = new Map();
  /** @type {Map<string, Set<string>>} grantId → keys of its tokens */
  const byGrant = new Map();
  const get = (/** @type {string} */ key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    else return entry?.payload;
    return undefined;
  };
  /** @param {string} model */
  return (model) => ({
    /** @param {string} id @param {any} payload @param {number} [expiresIn] seconds */
    async upsert(id, payload, expiresIn) {
      const key = `${model}:${id}`;
      store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      if (model === 'Session') store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt: Infinity });
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt: Infinity });
      if (payload.grantId && GRANTABLE.has(model)) {
        if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
        byGrant.get(payload.grantId)?.add(key);
      }
    },
    async find(/** @type {string} */ id) {
      return get(`${model}:${id}`);
    },
    async findByUid(/** @type {string} */ uid) {
      const id = get(`sessionUid:${uid}`);
      return id ? get(`${model}:${id}`) : undefined;
    },
    async findByUserCode(/** @type {string} */ userCode) {
      const id = get(`userCode:${userCode}`);
      return id ? get(`${model}:${id}`) : undefined;
    },
    async consume(/** @type {string} */ id) {
      const payload = get(`${model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(/** @type {string} */ id) {
      store.delete(`${model}:${id}`);
    },
    async revokeByGrantId(/** @type {string} */ grantId) {
      for (const key of byGrant.get(grantId) ?? []) store.delete(key);
      byGrant.delete(grantId);
    },
  });
}

/**
 * A fresh ES256 signing key for this OP instance (its tokens mean nothing to another
 * OP). ES256 rather than RS256: generating an RSA key takes up to a second.
 */
async function signingKey() {
  const { privateKey } = await promisify(generateKeyPair)('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'ES256' };
}

/**
 * What the authorization request asks for: acr_values, or the claims parameter's
 * id_token acr (value / values, essential or not).
 * @param {Record<string, unknown>} params
 */
export function requestedAcr(params) {
  /** @type {string[]} */
  let values = [];
  let essential = false;
  if (typeof params.acr_values === 'string' && params.acr_values.trim()) {
    values = params.acr_values.trim().split(/\s+/);
  } else if (typeof params.claims === 'string') {
    try {
      const acr = JSON.parse(params.claims)?.id_token?.acr;
      if (acr && typeof acr === 'object') {
        if (Array.isArray(acr.values)) values = acr.values.map(String);
        else if (typeof acr.value === 'string') values = [acr.value];
        essential = acr.essential === true;
      }
    } catch {
      // oidc-provider rejects invalid claims JSON before we ever get here
    }
  }
  // The one-time code is needed when 2fa is asked for and 1fa would not do.
  const needsOtp = values.includes(ACR_2FA) && !values.includes(ACR_1FA);
  return { values, essential, needsOtp };
}

/** @param {http.IncomingMessage} req */
async function readBody(req) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {string} html
 */
function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

/** @param {unknown} value */
function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * @param {{ uid: string, otp: string, requirement: ReturnType<typeof requestedAcr>,
 *   sessionAccount?: string | undefined, loginHint?: string | undefined, reasons: string[],
 *   error?: string, username?: string }} view
 */
function loginPage(view) {
  const { uid, otp, requirement, sessionAccount, loginHint, error } = view;
  const username = view.username ?? sessionAccount ?? loginHint ?? 'alice';
  const stepUp = Boolean(sessionAccount);
  const intro = requirement.needsOtp
    ? stepUp
      ? `<p id="intro">The application asks you to confirm it's you with a <strong>one-time code</strong>.</p>`
      : `<p id="intro">This sign-in needs your password and a <strong>one-time code</strong>.</p>`
    : `<p id="intro">Sign in with your password.</p>`;
  const otpField = requirement.needsOtp
    ? `<div class="otp-hint" id="otp-hint">Your one-time code is <strong id="otp-code">${escapeHtml(otp)}</strong></div>
      <label for="otp">One-time code</label>
      <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" placeholder="6 digits">`
    : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>
    ${intro}
    ${error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''}
    <form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off"
      data-acr-values="${escapeHtml(requirement.values.join(' '))}">
      <label for="username">Username</label>
      <input id="username" name="username" value="${escapeHtml(username)}" autocomplete="username" required>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
      ${otpField}
      <div class="buttons">
        <button id="submit" type="submit">Sign in</button>
        <button id="cancel" type="submit" class="secondary" formaction="/interaction/${escapeHtml(uid)}/abort" formnovalidate>Cancel</button>
      </div>
    </form>
    <p class="demo">Demo: any username, password <code>password</code>.</p>`,
  );
}

/**
 * @param {string} title
 * @param {string} body
 */
function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Demo OP</title>
<style>
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f3f4f6; color: #111827; }
  main { width: min(22rem, 92vw); background: #fff; border-radius: 12px; padding: 1.75rem;
         box-shadow: 0 1px 3px rgb(0 0 0 / .1), 0 8px 24px rgb(0 0 0 / .06); }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  p { line-height: 1.4; margin: .5rem 0; }
  label { display: block; font-size: .85rem; font-weight: 600; margin: .9rem 0 .3rem; }
  input { box-sizing: border-box; width: 100%; padding: .55rem .65rem; font-size: 1rem;
          border: 1px solid #d1d5db; border-radius: 6px; }
  input:focus { outline: 2px solid #2563eb; outline-offset: 1px; }
  .buttons { display: flex; gap: .6rem; margin-top: 1.3rem; }
  button { flex: 1; padding: .6rem; font-size: 1rem; border-radius: 6px; border: 0; cursor: pointer;
           background: #2563eb; color: #fff; font-weight: 600; }
  button.secondary { background: #e5e7eb; color: #111827; }
  .error { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; padding: .5rem .7rem; border-radius: 6px; }
  .otp-hint { margin-top: 1rem; background: #eff6ff; border: 1px solid #bfdbfe; padding: .5rem .7rem; border-radius: 6px; }
  .otp-hint strong { font-family: ui-monospace, monospace; font-size: 1.1rem; letter-spacing: .1em; }
  .demo { margin-top: 1.2rem; font-size: .8rem; color: #6b7280; }
</style>
</head>
<body><main>
${body}
</main></body>
</html>`;
}
