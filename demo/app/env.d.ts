// The page's configuration, served by demo/server.js once the OP and the API listen.
declare module 'virtual:demo-config' {
  const config: {
    issuer: string
    clientId: string
    redirectUri: string
    /** The resource server's origin, e.g. "http://127.0.0.1:4001". */
    api: string
  }
  export default config
}
