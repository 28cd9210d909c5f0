/** A `TypeError` with a Node-style `code`, for misuse of the API (bad options or arguments). */
export interface CodedTypeError extends TypeError {
  code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE'
}

export function codedTypeError(message: string, code: CodedTypeError['code']): CodedTypeError {
  const error = new TypeError(message) as CodedTypeError
  error.code = code
  return error
}

export function assertString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw codedTypeError(`"${name}" must be a non-empty string`, 'ERR_INVALID_ARG_TYPE')
  }
}

export function parseAbsoluteUrl(value: string, name: string): URL {
  try {
    return new URL(value)
  } catch {
    throw codedTypeError(`"${name}" must be an absolute URL, got ${JSON.stringify(value)}`, 'ERR_INVALID_ARG_VALUE')
  }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** `http:` is allowed only on loopback hosts, for development and tests (DESIGN.md). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname)
}
