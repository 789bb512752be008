import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LTI_PATHS } from '@labvisor/shared';
import { type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
export const LTI_ROLES = {
  learner: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
  instructor: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
} as const;

/** A person of the test platform's course. */
export interface PlatformPerson {
  sub: string;
  email?: string;
  name?: string;
  roles: string[];
}

/**
 * The platform side of LTI 1.3, for tests (npm holds tool-side libraries only): a learning
 * platform on loopback with a real RSA key pair, its key set (`/jwks`), a course page whose link
 * starts the third-party login (`/course?person=<id>`), and an OpenID Connect authorization
 * endpoint (`/auth`) that answers with the signed ID token as an auto-posting form.
 */
export class TestLtiPlatform {
  readonly clientId = 'labvisor-tool';
  readonly deploymentId = 'deployment-1';
  readonly contextId = 'course-42';
  readonly people = new Map<string, PlatformPerson>();
  /** Whatever the platform's authorization endpoint refused, in order. */
  readonly refusals: string[] = [];
  #privateKey!: CryptoKey;
  #server!: http.Server;
  url = '';

  private constructor(
    private readonly toolUrl: string,
    private readonly host: string,
  ) {}

  /** Starts a platform for the tool at `toolUrl`, on `host` (another site than the tool's). */
  static async start(toolUrl: string, host = 'localhost'): Promise<TestLtiPlatform> {
    const platform = new TestLtiPlatform(toolUrl, host);
    await platform.#listen();
    return platform;
  }

  get issuer(): string {
    return this.url;
  }

  /** What a tenant admin registers in Labvisor for this platform. */
  registration() {
    return {
      issuer: this.issuer,
      clientId: this.clientId,
      deploymentId: this.deploymentId,
      authorizationUrl: `${this.url}/auth`,
      keySetUrl: `${this.url}/jwks`,
    };
  }

  /** The login initiation parameters of a course link opened by a person. */
  loginParams(personId: string): Record<string, string> {
    return {
      iss: this.issuer,
      login_hint: personId,
      target_link_uri: this.toolUrl + LTI_PATHS.launch,
      lti_message_hint: `resource-link-7:${personId}`,
      client_id: this.clientId,
      lti_deployment_id: this.deploymentId,
    };
  }

  /** The claims of a resource link launch for a person answering `nonce`. */
  claimsFor(personId: string, nonce: string): JWTPayload {
    const person = this.people.get(personId);
    if (!person) throw new Error(`no person ${personId}`);
    return {
      sub: person.sub,
      nonce,
      ...(person.email ? { email: person.email } : {}),
      ...(person.name ? { name: person.name } : {}),
      [`${CLAIM}message_type`]: 'LtiResourceLinkRequest',
      [`${CLAIM}version`]: '1.3.0',
      [`${CLAIM}deployment_id`]: this.deploymentId,
      [`${CLAIM}target_link_uri`]: this.toolUrl + LTI_PATHS.launch,
      [`${CLAIM}resource_link`]: { id: 'resource-link-7', title: 'Lab' },
      [`${CLAIM}context`]: { id: this.contextId, label: 'NET101', title: 'Networks 101' },
      [`${CLAIM}roles`]: person.roles,
    };
  }

  /** Signs claims as this platform would (or with another key, to forge), for the tool. */
  async sign(
    claims: JWTPayload,
    options: { key?: CryptoKey; audience?: string | string[]; expiresIn?: string } = {},
  ): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'platform-key-1', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(options.audience ?? this.clientId)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(options.key ?? this.#privateKey);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #listen(): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    this.#privateKey = privateKey;
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'platform-key-1', alg: 'RS256' };
    this.#server = http.createServer((req, res) => {
      this.#serve(req, res, publicJwk).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://${this.host}:${(this.#server.address() as AddressInfo).port}`;
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse, jwk: object): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ keys: [jwk] }));
    }
    if (url.pathname === '/course') {
      const personId = url.searchParams.get('person') ?? '';
      const fields = Object.entries(this.loginParams(personId))
        .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
        .join('');
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end(
        `<!doctype html><title>Networks 101</title><h1>Networks 101</h1><form method="post" action="${this.toolUrl}${LTI_PATHS.login}">${fields}<button>Open the lab</button></form>`,
      );
    }
    if (url.pathname === '/auth') {
      const query = url.searchParams;
      const refused = this.#whyRefused(query);
      if (refused) {
        this.refusals.push(refused);
        res.writeHead(400, { 'content-type': 'text/plain' });
        return void res.end(refused);
      }
      const personId = query.get('login_hint')!;
      const idToken = await this.sign(this.claimsFor(personId, query.get('nonce')!));
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end(
        `<!doctype html><title>Launching</title><form id="launch" method="post" action="${escapeHtml(query.get('redirect_uri')!)}"><input type="hidden" name="id_token" value="${idToken}"><input type="hidden" name="state" value="${escapeHtml(query.get('state')!)}"></form><script>document.getElementById('launch').submit()</script>`,
      );
    }
    res.writeHead(404).end();
  }

  /** What a platform checks of the tool's authentication request. */
  #whyRefused(query: URLSearchParams): string | undefined {
    if (query.get('scope') !== 'openid') return 'scope must be openid';
    if (query.get('response_type') !== 'id_token') return 'response_type must be id_token';
    if (query.get('response_mode') !== 'form_post') return 'response_mode must be form_post';
    if (query.get('prompt') !== 'none') return 'prompt must be none';
    if (query.get('client_id') !== this.clientId) return 'unknown client_id';
    if (query.get('redirect_uri') !== this.toolUrl + LTI_PATHS.launch)
      return 'redirect_uri is not registered';
    if (!query.get('state') || !query.get('nonce')) return 'state and nonce are required';
    const personId = query.get('login_hint') ?? '';
    if (!this.people.has(personId)) return 'unknown login_hint';
    if (query.get('lti_message_hint') !== `resource-link-7:${personId}`)
      return 'lti_message_hint was not passed back';
    return undefined;
  }

  /** Adds a person to the course; answers their login hint. */
  addPerson(person: Omit<PlatformPerson, 'sub'> & { sub?: string }): string {
    const id = randomUUID();
    this.people.set(id, { sub: person.sub ?? randomUUID(), ...person });
    return id;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
