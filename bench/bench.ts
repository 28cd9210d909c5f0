// The benchmarks behind bench/RESULTS.md. Run with `npm run bench` (full; writes RESULTS.md)
// or `npm run bench -- --smoke` (a few seconds; CI). Every server listens on 127.0.0.1.
//
// Numbers are medians of repeated runs and are only printed: nothing here asserts a time. The
// smoke run does fail (exit 1) when the SDK misbehaves: more than one authorization for a
// shared challenge, a request not retried, a hostile header parsed to a result.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { getHeapStatistics } from 'node:v8'
import * as oauth from 'oauth4webapi'
import { ACR_2FA } from '../servers/api.js'
import { createUserAgent, type UserAgent } from '../test/servers/login.js'

// This file runs compiled, from bench/.out/ (see bench/run.mjs).
const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
// The built package, loaded the way an app loads it (not the TypeScript sources).
const sdk = (await import(pathToFileURL(join(root, 'dist/index.js')).href)) as typeof import('../src/index.js')
const { createStepUp, parseWwwAuthenticate, readStepUpChallenge } = sdk
type Interaction = import('../src/index.js').Interaction

const smoke = process.argv.includes('--smoke')
const ANALYSIS_MARKER = '<!-- Everything below is written by hand and kept when npm run bench regenerates the file. -->'
/** `--only=overhead,parsing,concurrent,hostile` runs some sections (for profiling); RESULTS.md is then not written. */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',')
const wanted = (name: string): boolean => !only || only.includes(name)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const problems: string[] = []
const check = (ok: boolean, problem: string): void => {
  if (!ok) problems.push(problem)
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const fmt = (n: number, digits = 1): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const table = (header: string[], rows: string[][]): string => {
  const line = (row: string[]) => `| ${row.join(' | ')} |`
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n')
}
const out: string[] = []
const section = (title: string, body: string): void => {
  out.push(`### ${title}\n\n${body}\n`)
  console.log(`\n${title}\n${body}`)
}

/** A browser-less person at the demo OP's login page: types the one-time code when asked. */
const person = (ua: UserAgent): Interaction => (url, ctx) => {
  const wants2fa = (url.searchParams.get('acr_values') ?? url.searchParams.get('claims') ?? '').includes(ACR_2FA)
  return ua.interaction({ otp: wants2fa })(url, ctx)
}

const listen = (server: Server): Promise<string> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))

// The OP and API run in a child process (bench/servers.mjs): the SDK is measured in a process
// of its own, as in a browser tab, and reaches them over loopback like any client.
const servers = spawn(process.execPath, [join(root, 'bench/servers.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] })
const env = await new Promise<{ issuer: string; clientId: string; redirectUri: string; api: string }>((resolve, reject) => {
  let buffered = ''
  servers.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    if (buffered.includes('\n')) resolve(JSON.parse(buffered.slice(0, buffered.indexOf('\n'))))
  })
  servers.on('exit', (code) => reject(new Error(`bench/servers.mjs exited with ${code}`)))
})
const base = { issuer: env.issuer, clientId: env.clientId, redirectUri: env.redirectUri, storage: 'memory' as const }

try {
  if (wanted('overhead')) await overhead()
  if (wanted('parsing')) await parsing()
  if (wanted('concurrent')) await concurrent()
  if (wanted('hostile')) await hostile()
} finally {
  servers.stdin.end()
}

// --- (1) per-request overhead ----------------------------------------------------------------
async function overhead(): Promise<void> {
  // The smallest loopback server: answers 200 when a token came along. Anything heavier (the
  // demo API verifies a JWT per request) would hide the SDK's cost in the denominator.
  let lastAuthorization: string | undefined
  const server = createServer((req, res) => {
    lastAuthorization = req.headers.authorization
    res.writeHead(lastAuthorization ? 200 : 401, { 'content-type': 'application/json' })
    res.end('{"ok":true}')
  })
  const url = await listen(server)
  try {
    // A real token: a real login at the demo OP through the SDK.
    const stepUp = createStepUp({ ...base, protect: [url], interaction: person(createUserAgent()) })
    await stepUp.authorize()
    await (await stepUp.fetch(`${url}/ping`)).text()
    const authorization = lastAuthorization
    check(authorization?.startsWith('Bearer ') === true, 'overhead: stepUp.fetch sent no Bearer token')
    const headers = { authorization: authorization! }
    const native = async () => (await fetch(`${url}/ping`, { headers })).text()
    const wrapped = async () => (await stepUp.fetch(`${url}/ping`)).text()

    const rounds = smoke ? 3 : 21
    const perRound = smoke ? 50 : 1000
    const time = async (one: () => Promise<string>): Promise<number> => {
      const start = performance.now()
      await one()
      return (performance.now() - start) * 1000
    }
    for (let i = 0; i < perRound; i++) await native(), await wrapped() // warm up sockets and JIT
    const ratios: number[] = []
    const nativeUs: number[] = []
    const wrappedUs: number[] = []
    for (let round = 0; round < rounds; round++) {
      // Interleaved request by request, alternating which goes first; per-request medians keep
      // a garbage collection or a scheduler hiccup from landing on one side only.
      const n: number[] = []
      const w: number[] = []
      for (let i = 0; i < perRound; i++) {
        if (i % 2) w.push(await time(wrapped)), n.push(await time(native))
        else n.push(await time(native)), w.push(await time(wrapped))
      }
      nativeUs.push(median(n))
      wrappedUs.push(median(w))
      ratios.push(median(w) / median(n))
    }
    section(
      '1. Per-request overhead: stepUp.fetch vs fetch, token attached, loopback server',
      `${rounds} rounds of ${perRound} GET pairs, one native and one through the SDK, interleaved (keep-alive, body read); per-request medians per round, then the median over rounds.\n\n` +
        table(
          ['', 'median µs / request'],
          [
            ['native fetch with the same Authorization header', fmt(median(nativeUs))],
            ['stepUp.fetch (protect check, token lookup, header set)', fmt(median(wrappedUs))],
            ['**median ratio** (target ≤ 1.03)', `**${fmt(median(ratios), 3)}**`],
          ],
        ),
    )
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

// --- (2) challenge parsing throughput ---------------------------------------------------------
async function parsing(): Promise<void> {
  /** What APIs send: RFC 9470 step-ups, RFC 6750 errors, multiple schemes, a DPoP challenge. */
  const headers = [
    'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:loa:2fa", max_age=300',
    'Bearer error="insufficient_user_authentication", acr_values="myACR"',
    'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
    'Bearer realm="example"',
    'DPoP algs="ES256 PS256", error="insufficient_user_authentication", acr_values="urn:x:loa:2fa urn:x:loa:3fa", max_age=0',
    'Basic realm="legacy", Bearer error="insufficient_user_authentication", max_age=0',
    'Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHg==, Bearer realm="x"',
    'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
  ]
  const responses = headers.map((h) => new Response(null, { status: 401, headers: { 'www-authenticate': h } }))
  const as: oauth.AuthorizationServer = { issuer: 'https://op.example' }
  const client: oauth.Client = { client_id: 'spa' }
  /** oauth4webapi has no public parser: its process*Response functions reject with the parsed challenges. */
  const o4w = async (response: Response) => {
    try {
      await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, response)
    } catch (error) {
      if (error instanceof oauth.WWWAuthenticateChallengeError) return error.cause
    }
    return undefined // it could not parse the header and went on to reject the status
  }
  let o4wRead = 0
  for (const [i, r] of responses.entries()) {
    check((await readStepUpChallenge(r)) !== undefined || !headers[i]!.includes('insufficient'), `parsing: no challenge read from ${headers[i]}`)
    check(parseWwwAuthenticate(headers[i]!).length > 0, `parsing: nothing parsed from ${headers[i]}`)
    if (await o4w(r)) o4wRead++
  }

  const runs = smoke ? 3 : 11
  const n = smoke ? 2_000 : 50_000
  const rate = async (label: string, one: (i: number) => unknown): Promise<string[]> => {
    const perSecond: number[] = []
    for (let i = 0; i < n / 10; i++) await one(i) // warm up
    for (let r = 0; r < runs; r++) {
      const start = performance.now()
      for (let i = 0; i < n; i++) await one(i)
      perSecond.push(n / ((performance.now() - start) / 1000))
    }
    const ops = median(perSecond)
    return [label, fmt(ops / 1000, 0), fmt(1e6 / ops, 2)]
  }
  const k = headers.length
  const rows = [
    await rate('stepup-fetch `parseWwwAuthenticate(header)` (sync)', (i) => parseWwwAuthenticate(headers[i % k]!)),
    await rate('stepup-fetch `readStepUpChallenge(response)`', (i) => readStepUpChallenge(responses[i % k]!)),
    await rate('oauth4webapi 3.8.8 `processUserInfoResponse` → `WWWAuthenticateChallengeError.cause`', (i) => o4w(responses[i % k]!)),
  ]
  section(
    '2. Challenge parsing throughput, realistic header mix',
    `${k} headers in rotation (RFC 9470 step-ups, RFC 6750 errors, several schemes, token68, DPoP); median of ${runs} runs of ${fmt(n, 0)} parses. ` +
      "oauth4webapi exports no parser; its public way to read a challenge is a `process*Response` call that rejects with `WWWAuthenticateChallengeError` (an `Error`, stack trace included). It also accepts headers stepup-fetch refuses as malformed. " +
      `oauth4webapi read ${o4wRead} of the ${k} headers.\n\n` +
      table(['parser', 'thousand headers / s', 'µs / header'], rows),
  )
}

// --- (3) 1000 concurrent requests, one challenge ------------------------------------------------
async function concurrent(): Promise<void> {
  const n = smoke ? 200 : 1000
  const runs = smoke ? 1 : 5
  const transfer = (i: number, headers: Record<string, string> = {}): [string, RequestInit] => [
    `${env.api}/api/transfer`,
    { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ to: 'bob', amount: i }) },
  ]
  /** Wall time and peak heap above a collected baseline (sampled every 1 ms) of `work`. */
  const measure = async <T>(work: () => Promise<T>): Promise<{ ms: number; heap: number; result: T }> => {
    gc()
    const before = getHeapStatistics().used_heap_size
    let top = before
    const sampler = setInterval(() => (top = Math.max(top, getHeapStatistics().used_heap_size)), 1)
    const start = performance.now()
    const result = await work()
    const ms = performance.now() - start
    clearInterval(sampler)
    return { ms, heap: Math.max(top, getHeapStatistics().used_heap_size) - before, result }
  }
  const sdk = { ms: [] as number[], heap: [] as number[] }
  const plain = { ms: [] as number[], heap: [] as number[] }
  for (let r = 0; r < runs; r++) {
    const ua = createUserAgent()
    // What the API answered, seen from the client (the API runs in another process), and the
    // elevated token, for the same requests through plain fetch afterwards.
    const statuses: number[] = []
    let elevated = ''
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init)
      if (input instanceof Request && new URL(input.url).pathname === '/api/transfer') {
        statuses.push(res.status)
        if (res.status === 200) elevated = input.headers.get('authorization') ?? ''
      }
      return res
    }
    const stepUp = createStepUp({ ...base, protect: [env.api], interaction: person(ua), fetch: counting })
    await stepUp.authorize() // 1fa
    const run = await measure(async () => {
      const responses = await Promise.all(Array.from({ length: n }, (_, i) => stepUp.fetch(...transfer(i))))
      return { responses, bodies: await Promise.all(responses.map((res) => res.json() as Promise<{ transferred: { amount: number } }>)) }
    })
    sdk.ms.push(run.ms)
    sdk.heap.push(run.heap)
    const { responses, bodies } = run.result
    check(ua.authorizations === 2, `concurrent: ${ua.authorizations - 1} step-up authorizations for one challenge (expected 1)`)
    check(responses.every((res) => res.status === 200), 'concurrent: not every request succeeded after the step-up')
    check(bodies.every((b, i) => b.transferred.amount === i), 'concurrent: a retried body was not replayed byte for byte')
    check(statuses.filter((s) => s === 401).length === n && statuses.filter((s) => s === 200).length === n, 'concurrent: expected one 401 and one 200 per request')
    // For scale: the same requests through plain fetch with the elevated token, no challenge.
    const reference = await measure(async () => {
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => fetch(...transfer(i, { authorization: elevated }))))
      check(replies.every((res) => res.status === 200), 'concurrent: the elevated token did not work with plain fetch')
      return Promise.all(replies.map((res) => res.arrayBuffer()))
    })
    plain.ms.push(reference.ms)
    plain.heap.push(reference.heap)
    stepUp.logout()
  }
  const range = (values: number[]) => `${fmt(median(values), 0)} ms (runs ${fmt(Math.min(...values), 0)} to ${fmt(Math.max(...values), 0)})`
  const mib = (values: number[]) => `${fmt(median(values) / 2 ** 20)} MiB`
  section(
    `3. ${n} concurrent requests hitting the same challenge`,
    `${n} concurrent POSTs with JSON bodies to the demo API's \`/api/transfer\` (2fa required) with a 1fa token, against the real OP and the jose-verifying API (another process, 127.0.0.1); median of ${runs} runs. ` +
      `Each run: ${n} challenges, **one** authorization (the browser-less login, one-time code included), ${n} retries with the same bytes. ` +
      `For scale, the second row sends the same ${n} POSTs with plain \`fetch\` and the elevated token (no challenge, no retry: half the requests). Peak heap is above a collected baseline, sampled every 1 ms.\n\n` +
      table(
        ['', 'wall time, first request to last body', 'peak heap'],
        [
          [`stepUp.fetch: ${n} challenges, 1 authorization, ${n} retries`, range(sdk.ms), mib(sdk.heap)],
          [`plain fetch: ${n} requests with the elevated token`, range(plain.ms), mib(plain.heap)],
        ],
      ),
  )
}

// --- (4) hostile headers ----------------------------------------------------------------------
async function hostile(): Promise<void> {
  const sizes = [8, 16, 32, 64].map((k) => k * 1024)
  const runs = smoke ? 3 : 15
  const shapes: Array<[string, (n: number) => string]> = [
    ['many auth-params `p0=v, p1=v, …` (valid)', (n) => `Bearer ${Array.from({ length: n / 8 }, (_, i) => `p${i}=v`).join(', ')}`.slice(0, n).replace(/,[^,]*$/, '')],
    ['quoted-pairs `a="\\"\\"…"` (valid)', (n) => `Bearer a="${'\\"'.repeat((n - 11) / 2)}"`],
    ['unterminated quoted-string', (n) => `Bearer a="${'x'.repeat(n - 10)}`],
    ['separators `Bearer , , , …`', (n) => `Bearer ${', '.repeat((n - 8) / 2)}x`],
    ['token68 then `=` runs `a===…b`', (n) => `Bearer a${'='.repeat(n - 9)}b`],
    ['one long token `aaaa…` then junk', (n) => `${'a'.repeat(n - 1)}"`],
  ]
  const time = async (parse: (header: string) => unknown, header: string, times: number): Promise<number> => {
    const once = async (): Promise<number> => {
      const start = performance.now()
      try {
        await parse(header)
      } catch {
        // malformed_challenge: refused, as it should be for the broken shapes
      }
      return performance.now() - start
    }
    for (let w = 0; w < 3; w++) await once() // warm up
    const samples: number[] = []
    for (let r = 0; r < times; r++) samples.push(await once())
    return median(samples) * 1000
  }
  // oauth4webapi's public path to its parser (see 2.), on the same headers, at both ends.
  const as: oauth.AuthorizationServer = { issuer: 'https://op.example' }
  const o4w = (header: string) =>
    oauth.processUserInfoResponse(as, { client_id: 'spa' }, oauth.skipSubjectCheck, new Response(null, { status: 401, headers: { 'www-authenticate': header } })).catch(() => {})
  const rows: string[][] = []
  for (const [label, make] of shapes) {
    const ours = []
    for (const size of sizes) ours.push(await time(parseWwwAuthenticate, make(size), runs))
    const theirs = [await time(o4w, make(sizes[0]!), smoke ? 1 : 5), await time(o4w, make(sizes.at(-1)!), smoke ? 1 : 5)]
    rows.push([label, ...ours.map((t) => fmt(t, 0)), `**${fmt(ours.at(-1)! / ours[0]!)}**`, fmt(theirs[1]!, 0), fmt(theirs[1]! / theirs[0]!)])
  }
  for (const bad of [`Bearer a="${'x'.repeat(65_526)}`, `Bearer a${'='.repeat(65_527)}b`, `${'a'.repeat(65_535)}"`]) {
    let parsed = true
    try {
      parseWwwAuthenticate(bad)
    } catch {
      parsed = false
    }
    check(!parsed, 'hostile: a malformed 64 KiB header was parsed to a result')
  }
  section(
    '4. Hostile headers up to 64 KiB: time grows linearly',
    `Median µs of ${runs} parses per size (after warm-up parses). Linear growth means 64 KiB takes about 8× as long as 8 KiB; quadratic would be 64×. ` +
      'The last two columns feed oauth4webapi the same headers through its public API (see 2.), for comparison.\n\n' +
      table(['shape', ...sizes.map((s) => `${s / 1024} KiB µs`), '64 KiB ÷ 8 KiB', 'oauth4webapi 64 KiB µs', 'its 64 ÷ 8'], rows),
  )
}

// --- report -------------------------------------------------------------------------------------
if (problems.length) {
  console.error(`\nbench: the SDK misbehaved:\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log(`\nbench${smoke ? ' (smoke)' : ''}: every behaviour check passed (no times are asserted)`)
if (!smoke && !only) {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model ?? 'unknown'
  let size = ''
  try {
    size = execFileSync(process.execPath, [join(root, 'bench/size/size.mjs')], { encoding: 'utf8' })
  } catch (error) {
    size = (error as { stdout?: string }).stdout ?? '' // over budget still prints the table
  }
  const md = [
    '# Size and speed: results',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} cores of ${cpu}, ${fmt(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}. ` +
      'Regenerate with `npm run bench` (the size table comes from `npm run size`).',
    '',
    '## Bundle size',
    '',
    size.trim().split('\n').filter((l) => l.startsWith('|')).join('\n'),
    '',
    ...size.trim().split('\n').filter((l) => l.startsWith('note: ') || l.startsWith('1 KB')).map((l) => `- ${l.replace(/^note: /, '')}`),
    '',
    '## Speed',
    '',
    ...out,
  ].join('\n')
  // Hand-written analysis below the marker survives regeneration.
  const file = join(root, 'bench/RESULTS.md')
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const marker = previous.indexOf(ANALYSIS_MARKER)
  writeFileSync(file, `${md}\n${marker === -1 ? `${ANALYSIS_MARKER}\n` : previous.slice(marker)}`)
  console.log('wrote bench/RESULTS.md')
}
