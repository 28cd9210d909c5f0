// Types for demo/server.js (hand-written; keep in sync).
import type { RunningApi } from '../servers/api.js'
import type { RunningOp } from '../servers/op.js'

export interface DemoOptions {
  /** Port of the SPA (Vite); 0 (default) picks a free one. */
  port?: number
  /** Port of the OP; 0 (default) picks a free one. */
  opPort?: number
  /** Port of the API; 0 (default) picks a free one. */
  apiPort?: number
  /** Vite logs, file watching and hot reload (for `npm run demo`); off for tests. */
  dev?: boolean
}

/** What the page's "Try what can go wrong" switches change on the servers. */
export interface Scenario {
  /** The OP treats acr_values as a hint: every login ends at urn:demo:loa:1fa. */
  opIgnoresAcr: boolean
  /** The API does not send Access-Control-Expose-Headers: WWW-Authenticate. */
  apiHidesHeader: boolean
  /** The API repeats the challenge as a JSON body. */
  apiSendsJsonBody: boolean
}

export interface RunningDemo {
  /** The SPA, e.g. "http://127.0.0.1:5173/". */
  url: string
  op: RunningOp
  api: RunningApi
  /** The switches in effect. */
  readonly scenario: Scenario
  /** Change some switches; returns all of them. */
  setScenario(changes: Partial<Scenario>): Scenario
  /** Default switches, OP knobs off, recorded API requests forgotten. */
  reset(): void
  /** Stop the SPA, the API and the OP. */
  close(): Promise<void>
}

export declare function startDemo(options?: DemoOptions): Promise<RunningDemo>
