import type { TokenRecord } from '../core/tokens.js'

/** Where tokens are kept between requests. */
export interface TokenStore {
  load(): TokenRecord[]
  save(tokens: readonly TokenRecord[]): void
}

/** Tokens live in this page's memory only: gone on reload, out of reach of other tabs. */
export function memoryStore(): TokenStore {
  return { load: () => [], save: () => {} }
}
