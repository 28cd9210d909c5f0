import { vi } from 'vitest'

/**
 * Stub `sessionStorage` with a Map (Node has none) and return the Map, so a test can look into it
 * or hand it to a "reloaded" client. `vi.unstubAllGlobals()` removes it.
 */
export function stubSessionStorage(): Map<string, string> {
  const items = new Map<string, string>()
  vi.stubGlobal('sessionStorage', {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, String(value)),
    removeItem: (key: string) => void items.delete(key),
  })
  return items
}
