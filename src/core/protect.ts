import { must, parseAbsoluteUrl } from '../utils/assert.js'

/** Which URLs may receive a token and may start a step-up. */
export type Protect = Array<string | RegExp> | ((url: URL) => boolean)

/**
 * Compile `protect` into one predicate. A string entry is a URL prefix compared on the
 * parsed URL: same origin, and a path that starts with the entry's path on a segment
 * boundary (`https://api.x/v1` covers `/v1` and `/v1/…`, never `/v10`). A RegExp is
 * tested against the full URL; a function receives the parsed URL.
 */
export function compileProtect(protect: Protect): (url: URL) => boolean {
  // A copy: what the function does to its URL must not change where the request goes.
  if (typeof protect === 'function') return (url) => protect(new URL(url)) === true
  must(Array.isArray(protect) && protect.length > 0, 'protect', 'a non-empty array or a function')
  const matchers = protect.map((entry, i): ((url: URL) => boolean) => {
    if (entry instanceof RegExp) {
      // A global or sticky RegExp keeps lastIndex between calls and would match every other time.
      const re = entry.global || entry.sticky ? new RegExp(entry.source, entry.flags.replace(/[gy]/g, '')) : entry
      return (url) => re.test(url.href)
    }
    // Errors name the entry by its index: `"protect[1]" must be ...`.
    const name = `protect[${i}]`
    must(typeof entry === 'string', name, 'a string or a RegExp')
    const base = parseAbsoluteUrl(entry, name)
    must(!base.search && !base.hash, name, 'a URL without a query or fragment', entry)
    const origin = base.origin
    // "/v1/" and "/v1" both mean the segment "/v1"; the root "/" becomes "" and covers every path.
    const prefix = base.pathname.replace(/\/+$/, '')
    // `${pathname}/` starts with `${prefix}/` exactly when the path is the prefix or goes on below it.
    return (url) => url.origin === origin && `${url.pathname}/`.startsWith(`${prefix}/`)
  })
  return (url) => matchers.some((match) => match(url))
}
