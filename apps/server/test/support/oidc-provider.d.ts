declare module 'oidc-provider' {
  /** The parts of oidc-provider the tests use (the package ships no types). */
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    listen(port: number): import('node:http').Server;
  }
}
