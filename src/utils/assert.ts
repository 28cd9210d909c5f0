/** A `TypeError` with a Node-style `code`, for misuse of the API (bad options or arguments). */
export interface CodedTypeError extends TypeError {
  code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE'
}

export function codedTypeError(message: string, code: CodedTypeError['code']): CodedTypeError {
  const error = new TypeError(message) as CodedTypeError
  error.code = code
  return error
}

/**
 * Throws unless `ok`: `"name" must be what`. Without `value` that is a wrong type
 * (`ERR_INVALID_ARG_TYPE`); with a `value`, a wrong value (`ERR_INVALID_ARG_VALUE`), quoted.
 */
export function must(ok: unknown, name: string, what: string, ...value: [unknown?]): asserts ok {
  if (!ok) {
    throw codedTypeError(
      `"${name}" must be ${what}${value.length ? `, got ${show(value[0])}` : ''}`,
      value.length ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE',
    )
  }
}

/** A bad value, for a message: never throws (BigInt, cycles, symbols) and never hides NaN. */
function show(value: unknown): string {
  const type = typeof value
  return type === 'string' ? JSON.stringify(value) : value !== null && (type === 'object' || type === 'function' || type === 'symbol') ? type : String(value)
}

export function parseAbsoluteUrl(value: string, name: string): URL {
  try {
    return new URL(value)
  } catch {
    // Throws `"name" must be an absolute URL, got "value"` (ERR_INVALID_ARG_VALUE).
    must(false, name, 'an absolute URL', value)
  }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** `http:` is allowed only on loopback hosts, for development and tests (DESIGN.md). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname)
}
