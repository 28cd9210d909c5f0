// A browser-less "user agent" for tests: it follows an authorization URL against the
// demo OP (servers/op.js), answers the login page over plain HTTP, and resolves with
// the callback URL, exactly like the SDK's popup()/redirect() interactions would.
//
// One user agent = one cookie jar = one OP SSO session. Use the SAME user agent for
// the first login and the step-up, so the step-up sees the existing 1fa session.

export type Interaction = (authorizationUrl: URL, ctx: { signal: AbortSignal }) => Promise<URL>

export interface InteractionOptions {
  /** Username typed into the login page (default: what the page prefills, i.e. the
   *  session's user, else "alice"). */
  username?: string
  /** Default "password" (the demo OP's password for every user). */
  password?: string
  /** true: type the one-time code the page shows; a string: type that (e.g. a wrong
   *  one); false/omitted: leave the field empty. */
  otp?: boolean | string
  /** Press "Cancel" on the login page (→ error=access_denied). */
  cancel?: boolean
  /** Called with each authorization URL before it is followed. */
  onAuthorizationUrl?: (url: URL) => void
  /** Wait this long before following the URL (aborted by ctx.signal). */
  delayMs?: number
}

/** What happened in one flow, for assertions. */
export interface FlowRecord {
  authorizationUrl: URL
  /** The login page was shown (false: the SSO session satisfied the request). */
  loginShown: boolean
  /** The login page asked for a one-time code. */
  otpAsked: boolean
  /** The callback URL, once reached. */
  callback?: URL
}

export interface UserAgent {
  jar: CookieJar
  /** Number of authorization URLs followed so far (one per flow). */
  authorizations: number
  /** One entry per flow, oldest first. */
  flows: FlowRecord[]
  interaction(options?: InteractionOptions): Interaction
}

/** Thrown when the OP does something the user agent cannot answer. */
export class UserAgentError extends Error {
  override name = 'UserAgentError'
  constructor(
    message: string,
    readonly status?: number,
    readonly page?: string,
  ) {
    super(message)
  }
}

export function createUserAgent(): UserAgent {
  const jar = new CookieJar()
  const ua: UserAgent = {
    jar,
    authorizations: 0,
    flows: [],
    interaction(options: InteractionOptions = {}): Interaction {
      return async (authorizationUrl, { signal }) => {
        const start = new URL(authorizationUrl)
        ua.authorizations++
        const flow: FlowRecord = { authorizationUrl: start, loginShown: false, otpAsked: false }
        ua.flows.push(flow)
        options.onAuthorizationUrl?.(start)
        if (options.delayMs) await sleep(options.delayMs, signal)
        const callback = await follow(jar, start, options, flow, signal)
        flow.callback = callback
        return callback
      }
    },
  }
  return ua
}

const MAX_HOPS = 30

async function follow(
  jar: CookieJar,
  authorizationUrl: URL,
  options: InteractionOptions,
  flow: FlowRecord,
  signal: AbortSignal,
): Promise<URL> {
  const redirectUri = authorizationUrl.searchParams.get('redirect_uri')
  const isCallback = (url: URL) =>
    redirectUri !== null
      ? url.origin + url.pathname === stripQuery(redirectUri)
      : url.origin !== authorizationUrl.origin

  let url = authorizationUrl
  let body: URLSearchParams | undefined
  let submitted = false

  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const res = await request(jar, url, body, signal)
    body = undefined

    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location')
      if (!location) throw new UserAgentError(`redirect without Location from ${url}`, res.status)
      const next = new URL(location, url)
      if (isCallback(next)) return next
      url = next
      continue
    }

    const html = await res.text()
    const login = parseLoginPage(html, url)
    if (res.status === 200 && login) {
      if (submitted) {
        throw new UserAgentError(
          `the OP showed the login page again after the form was submitted${login.error ? `: ${login.error}` : ''}`,
          res.status,
          html,
        )
      }
      flow.loginShown = true
      flow.otpAsked = login.otpField
      submitted = true
      if (options.cancel) {
        url = login.cancelAction
        body = new URLSearchParams()
        continue
      }
      const form = new URLSearchParams()
      form.set('username', options.username ?? login.username ?? 'alice')
      form.set('password', options.password ?? 'password')
      if (options.otp === true) {
        if (!login.otpCode) throw new UserAgentError('otp: true, but the login page asks for no one-time code', res.status, html)
        form.set('otp', login.otpCode)
      } else if (typeof options.otp === 'string') {
        form.set('otp', options.otp)
      }
      url = login.action
      body = form
      continue
    }

    // An auto-submitting form: oidc-provider's logout confirmation when the account
    // changes during a flow, or a form_post authorization response.
    const autoPost = parseAutoPostForm(html, url)
    if (autoPost) {
      if (isCallback(autoPost.action)) {
        const callback = new URL(autoPost.action)
        for (const [k, v] of autoPost.fields) callback.searchParams.append(k, v)
        return callback
      }
      url = autoPost.action
      body = autoPost.fields
      continue
    }

    throw new UserAgentError(`unexpected ${res.status} from ${url}: ${textOf(html).slice(0, 300)}`, res.status, html)
  }
  throw new UserAgentError(`more than ${MAX_HOPS} hops without reaching ${redirectUri ?? 'the client'}`)
}

async function request(jar: CookieJar, url: URL, body: URLSearchParams | undefined, signal: AbortSignal) {
  signal.throwIfAborted()
  const headers: Record<string, string> = { accept: 'text/html' }
  const cookie = jar.header(url)
  if (cookie) headers.cookie = cookie
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded'
  let res: Response
  try {
    res = await fetch(url, {
      method: body ? 'POST' : 'GET',
      headers,
      ...(body ? { body: body.toString() } : {}),
      redirect: 'manual',
      signal,
    })
  } catch (err) {
    if (signal.aborted) throw signal.reason
    throw err
  }
  jar.store(url, res.headers.getSetCookie())
  return res
}

interface LoginPage {
  action: URL
  cancelAction: URL
  username: string | undefined
  otpField: boolean
  otpCode: string | undefined
  error: string | undefined
}

function parseLoginPage(html: string, base: URL): LoginPage | undefined {
  const form = /<form\b[^>]*\bid="login-form"[^>]*>/.exec(html)?.[0]
  if (!form) return undefined
  const action = attr(form, 'action')
  const cancel = /<button\b[^>]*\bid="cancel"[^>]*>/.exec(html)?.[0]
  const usernameInput = /<input\b[^>]*\bid="username"[^>]*>/.exec(html)?.[0]
  return {
    action: new URL(action ?? base.href, base),
    cancelAction: new URL((cancel && attr(cancel, 'formaction')) ?? action ?? base.href, base),
    username: usernameInput ? attr(usernameInput, 'value') : undefined,
    otpField: /<input\b[^>]*\bid="otp"/.test(html),
    otpCode: /\bid="otp-code"[^>]*>\s*(\d+)\s*</.exec(html)?.[1],
    error: (() => {
      const m = /\bid="error"[^>]*>([\s\S]*?)<\/p>/.exec(html)
      return m ? textOf(m[1] ?? '') : undefined
    })(),
  }
}

function parseAutoPostForm(html: string, base: URL): { action: URL; fields: URLSearchParams } | undefined {
  const form = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) return undefined
  const action = attr(form[0], 'action')
  if (!action) return undefined
  const fields = new URLSearchParams()
  for (const [input] of (form[1] ?? '').matchAll(/<input\b[^>]*>/g)) {
    const name = attr(input, 'name')
    if (name) fields.append(name, attr(input, 'value') ?? '')
  }
  return { action: new URL(action, base), fields }
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag)
  return m ? decodeEntities(m[1] ?? '') : undefined
}

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

function textOf(html: string): string {
  const body = html.replace(/<(style|script|head)\b[\s\S]*?<\/\1>/gi, ' ')
  return decodeEntities(body.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim()
}

function stripQuery(uri: string): string {
  const u = new URL(uri)
  return u.origin + u.pathname
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

interface StoredCookie {
  name: string
  value: string
  host: string
  path: string
  expires: number // ms since epoch; Infinity for session cookies
}

/** A minimal RFC 6265 cookie jar: host-only cookies, path matching, expiry. */
export class CookieJar {
  readonly cookies = new Map<string, StoredCookie>()

  store(url: URL, setCookieHeaders: readonly string[]): void {
    for (const header of setCookieHeaders) {
      const [pair = '', ...attributes] = header.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const cookie: StoredCookie = {
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
        host: url.hostname,
        path: defaultPath(url),
        expires: Infinity,
      }
      let maxAge: number | undefined
      for (const attribute of attributes) {
        const [rawKey = '', ...rest] = attribute.split('=')
        const key = rawKey.trim().toLowerCase()
        const value = rest.join('=').trim()
        if (key === 'path' && value.startsWith('/')) cookie.path = value
        else if (key === 'expires') {
          const t = Date.parse(value)
          if (!Number.isNaN(t)) cookie.expires = t
        } else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value)
      }
      if (maxAge !== undefined) cookie.expires = Date.now() + maxAge * 1000
      const key = `${cookie.host};${cookie.path};${cookie.name}`
      if (cookie.expires <= Date.now()) this.cookies.delete(key)
      else this.cookies.set(key, cookie)
    }
  }

  header(url: URL): string {
    const now = Date.now()
    const matching: StoredCookie[] = []
    for (const [key, cookie] of this.cookies) {
      if (cookie.expires <= now) {
        this.cookies.delete(key)
        continue
      }
      if (cookie.host === url.hostname && pathMatches(url.pathname, cookie.path)) matching.push(cookie)
    }
    // Longer paths first (RFC 6265 §5.4).
    matching.sort((a, b) => b.path.length - a.path.length)
    return matching.map((c) => `${c.name}=${c.value}`).join('; ')
  }

  clear(): void {
    this.cookies.clear()
  }
}

function defaultPath(url: URL): string {
  const path = url.pathname
  if (!path.startsWith('/') || path.lastIndexOf('/') === 0) return '/'
  return path.slice(0, path.lastIndexOf('/'))
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/'
}
