import type { TokenRecord } from '../core/tokens.js'
import type { TokenStore } from './memory.js'

/** The sessionStorage of this page, or undefined outside a browser (or when it is disabled). */
export function getSessionStorage(): Storage | undefined {
  try {
    return (globalThis as { sessionStorage?: Storage }).sessionStorage
  } catch {
    // Accessing sessionStorage throws in sandboxed iframes and with storage disabled.
    return undefined
  }
}

export function readJson<T>(key: string): T | undefined {
  const raw = getSessionStorage()?.getItem(key)
  if (raw == null) return undefined
  try {
    return JSON.parse(raw) as T
  } catch {
    return undefined
  }
}

export function writeJson(key: string, value: unknown): void {
  const storage = getSessionStorage()
  if (!storage) return
  if (value === undefined) storage.removeItem(key)
  else storage.setItem(key, JSON.stringify(value))
}

/** Tokens survive reloads of this tab (sessionStorage), and are readable by any script on the origin. */
export function sessionStore(key: string): TokenStore {
  return {
    load: () => {
      const tokens = readJson<unknown>(key)
      return Array.isArray(tokens) ? (tokens as TokenRecord[]) : []
    },
    save: (tokens) => writeJson(key, tokens.length ? tokens : undefined),
  }
}
