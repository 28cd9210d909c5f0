// startDemo() (demo/server.js) beyond what the browser tests click: where it sends a visitor who
// typed localhost, and what its scenario switch endpoint accepts.
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemo, type RunningDemo } from '../../demo/server.js'

let demo: RunningDemo
beforeAll(async () => {
  demo = await startDemo()
})
afterAll(async () => {
  await demo?.close()
})

/** A raw request, so the Host header can be anything. */
function request(path: string, options: { host?: string; method?: string; type?: string; body?: string } = {}): Promise<{ status: number; location: string | undefined; body: string }> {
  const url = new URL(path, demo.url)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: options.method ?? 'GET', headers: { host: options.host ?? url.host, ...(options.type ? { 'content-type': options.type } : {}) } },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('the demo server', () => {
  it('sends a visitor who typed localhost to 127.0.0.1, the origin the OP and the API know', async () => {
    const { port } = new URL(demo.url)
    const answer = await request('/react.html', { host: `localhost:${port}` })
    expect(answer.status).toBe(307)
    expect(answer.location).toBe(`http://127.0.0.1:${port}/react.html`)
    expect((await request('/')).status).toBe(200)
  })

  it('serves the page configuration with the URLs of the OP and the API', async () => {
    const config = await request('/@id/__x00__virtual:demo-config')
    expect(config.body).toContain(JSON.stringify({ issuer: demo.op.issuer, clientId: 'spa', redirectUri: `${demo.url}callback.html`, api: demo.api.url }))
  })

  it('switches scenarios on a JSON POST only, and ignores unknown or non-boolean fields', async () => {
    try {
      const plain = await request('/__demo/scenario', { method: 'POST', type: 'text/plain', body: '{"opIgnoresAcr":true}' })
      expect(plain.status).toBe(415)
      expect(demo.scenario.opIgnoresAcr).toBe(false)

      const json = await request('/__demo/scenario', { method: 'POST', type: 'application/json', body: '{"opIgnoresAcr":true,"apiHidesHeader":"yes","other":1}' })
      expect(json.status).toBe(200)
      expect(JSON.parse(json.body)).toEqual({ opIgnoresAcr: true, apiHidesHeader: false, apiSendsJsonBody: true })

      const broken = await request('/__demo/scenario', { method: 'POST', type: 'application/json', body: '{' })
      expect(broken.status).toBe(400)
      await expect(request('/__demo/scenario', { method: 'POST', type: 'application/json', body: `{"opIgnoresAcr":false,"pad":"${'x'.repeat(2000)}"}` })).rejects.toThrow()
      expect(demo.scenario.opIgnoresAcr).toBe(true)
    } finally {
      demo.reset()
    }
    expect(demo.scenario).toEqual({ opIgnoresAcr: false, apiHidesHeader: false, apiSendsJsonBody: true })
  })
})
