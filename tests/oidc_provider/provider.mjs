// node-oidc-provider (npm `oidc-provider`, pinned in the root package.json) set up as the
// standard OpenID provider the tests sign in at, with a small protected API beside it and a
// test clock. See README.md in this folder for every setting and why.
//
//   node tests/oidc_provider/provider.mjs --port 0 --redirect-uri URI ...
//        [--post-logout-redirect-uri URI ...] [--cors-origin ORIGIN ...]
//        [--access-ttl 60] [--dpop] [--dpop-require-nonce]
//
// Prints one JSON line on stdout once listening: {"issuer": "http://127.0.0.1:PORT", "port": PORT}.
// Everything else (the provider's notices and warnings) goes to stderr.

import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

// -- the test clock: installed before oidc-provider (or jose) is imported -------------------
// Every `Date.now()` and `new Date()` of the process sees real time + offset, so expiry checks
// (tokens, sessions, cookies, ID token `iat`/`exp`) all move when a test moves the clock.

const RealDate = Date;
let offsetMs = 0;

class TestDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offsetMs);
    else super(...args);
  }

  static now() {
    return RealDate.now() + offsetMs;
  }
}
globalThis.Date = TestDate;

// The provider's notices use console.info (stdout): keep stdout for the one JSON line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');
// jose comes with oidc-provider (its dependency); the API verifies DPoP proofs with it.
const jose = await import('jose');

// -- the command line ---------------------------------------------------------------------

const USAGE = `usage: node tests/oidc_provider/provider.mjs --port 0 --redirect-uri URI ...
       [--post-logout-redirect-uri URI ...] [--cors-origin ORIGIN ...] [--access-ttl 60]
       [--dpop] [--dpop-require-nonce]`;

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '0' },
        'redirect-uri': { type: 'string', multiple: true, default: [] },
        'post-logout-redirect-uri': { type: 'string', multiple: true, default: [] },
        'cors-origin': { type: 'string', multiple: true, default: [] },
        'access-ttl': { type: 'string', default: '60' },
        dpop: { type: 'boolean', default: false },
        'dpop-require-nonce': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    console.error(USAGE);
    process.exit(0);
  }
  const port = Number(parsed.port);
  const accessTtl = Number(parsed['access-ttl']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: not a port: ${parsed.port}`);
  if (!Number.isInteger(accessTtl) || accessTtl < 1) fail(`--access-ttl: not a positive integer: ${parsed['access-ttl']}`);
  if (parsed['redirect-uri'].length === 0) fail('at least one --redirect-uri is required');
  for (const uri of [...parsed['redirect-uri'], ...parsed['post-logout-redirect-uri']]) {
    if (!URL.canParse(uri)) fail(`not an absolute URL: ${uri}`);
  }
  const corsOrigins = parsed['cors-origin'].map((origin) => {
    if (!URL.canParse(origin)) fail(`--cors-origin: not an origin: ${origin}`);
    return new URL(origin).origin;
  });
  return {
    port,
    accessTtl,
    redirectUris: parsed['redirect-uri'],
    postLogoutRedirectUris: parsed['post-logout-redirect-uri'],
    corsOrigins,
    // --dpop-require-nonce implies --dpop.
    dpop: parsed.dpop || parsed['dpop-require-nonce'],
    dpopRequireNonce: parsed['dpop-require-nonce'],
  };
}

function fail(message) {
  console.error(`provider.mjs: ${message}\n${USAGE}`);
  process.exit(2);
}

const options = parseCommandLine(process.argv.slice(2));
const CLIENT_ID = 'authfetch-test';
const API_SCOPE = 'api:read';

// -- counters (GET /__test__/stats) --------------------------------------------------------

function zeroStats() {
  return {
    code_exchanged: 0, // grant.success, grant_type=authorization_code
    refresh_ok: 0, // grant.success, grant_type=refresh_token
    invalid_grant: 0, // grant.error with error=invalid_grant (any grant type)
    reuse_detected: 0, // ... of which: a rotated refresh token presented again
    grant_revoked: 0, // grant.revoked (reuse, revocation of a refresh token, ...)
    revoked: 0, // tokens destroyed at the revocation endpoint (RFC 7009)
    revocation_calls: 0, // revocation endpoint answers 200 (also for unknown tokens)
    api_ok: 0,
    api_401: 0,
    // DPoP (RFC 9449)
    dpop_bound_tokens: 0, // access tokens issued bound to a key (token_type DPoP), any grant type
    token_dpop_nonce_challenges: 0, // token endpoint answers use_dpop_nonce
    token_dpop_refused: 0, // token endpoint answers invalid_dpop_proof
    refresh_key_mismatch: 0, // invalid_grant "failed jkt verification": a bound refresh token, another key or no proof
    api_dpop_ok: 0, // API answers to a bound token whose proof was accepted (also counted in api_ok)
    api_dpop_refused: 0, // API 401 invalid_dpop_proof
    api_dpop_nonce_challenges: 0, // API 401 use_dpop_nonce
    api_dpop_as_bearer: 0, // API 401 invalid_token: a bound token sent with the Bearer scheme
  };
}
let stats = zeroStats();

// -- a Map-based adapter that POST /__test__/reset can empty ---------------------------------

const store = new Map(); // `${model}:${id}` -> {payload, expiresAt (ms, test clock) | undefined}
const grantIndex = new Map(); // grantId -> Set of `${model}:${id}`
const uidIndex = new Map(); // session uid -> key
const userCodeIndex = new Map(); // user code -> key

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload: structuredClone(payload), expiresAt });
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (payload.uid) uidIndex.set(payload.uid, key);
    if (payload.userCode) userCodeIndex.set(payload.userCode, key);
  }

  static read(key) {
    const entry = key === undefined ? undefined : store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async find(id) {
    return MapAdapter.read(this.key(id));
  }

  async findByUid(uid) {
    return MapAdapter.read(uidIndex.get(uid));
  }

  async findByUserCode(userCode) {
    return MapAdapter.read(userCodeIndex.get(userCode));
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantIndex.get(grantId) ?? []) store.delete(key);
    grantIndex.delete(grantId);
  }
}

function resetStore() {
  store.clear();
  grantIndex.clear();
  uidIndex.clear();
  userCodeIndex.clear();
}

// -- the provider ----------------------------------------------------------------------------

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(options.port, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
const API = `${issuer}/api`;

const allowedOrigins = new Set([
  ...options.corsOrigins,
  ...options.redirectUris.map((uri) => new URL(uri).origin),
]);

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const configuration = {
  adapter: MapAdapter,
  clients: [
    {
      client_id: CLIENT_ID,
      client_name: 'authfetch tests',
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: options.redirectUris,
      post_logout_redirect_uris: options.postLogoutRedirectUris,
    },
  ],
  jwks: { keys: [{ ...signingKey, alg: 'RS256', use: 'sig', kid: 'test-rs256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  clockTolerance: 0,
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access'],
  issueRefreshToken: async (ctx, client) => client.clientId === CLIENT_ID,
  rotateRefreshToken: () => true,
  clientBasedCORS: (ctx, origin) => allowedOrigins.has(origin),
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  ttl: {
    AccessToken: options.accessTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? API,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator !== API) throw new errors.InvalidTarget();
        return {
          scope: API_SCOPE,
          audience: API,
          accessTokenTTL: options.accessTtl,
          accessTokenFormat: 'opaque',
        };
      },
    },
    dPoP: options.dpop
      ? {
        enabled: true,
        nonceSecret: crypto.randomBytes(32),
        // Called for every proof the provider checks (token endpoint, userinfo, PAR).
        requireNonce: () => options.dpopRequireNonce,
      }
      : { enabled: false },
  },
};

const provider = new Provider(issuer, configuration);

provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params?.grant_type;
  if (grantType === 'authorization_code') stats.code_exchanged += 1;
  if (grantType === 'refresh_token') stats.refresh_ok += 1;
  if (ctx.oidc.entities.AccessToken?.jkt) stats.dpop_bound_tokens += 1;
});
provider.on('grant.error', (ctx, error) => {
  if (error?.error === 'use_dpop_nonce') stats.token_dpop_nonce_challenges += 1;
  if (error?.error === 'invalid_dpop_proof') {
    stats.token_dpop_refused += 1;
    console.error(`invalid_dpop_proof: ${error.error_description}`);
  }
  if (error?.error !== 'invalid_grant') return;
  stats.invalid_grant += 1;
  if (error.error_detail === 'refresh token already used') stats.reuse_detected += 1;
  if (error.error_detail === 'failed jkt verification') stats.refresh_key_mismatch += 1;
  console.error(`invalid_grant: ${error.error_detail}`);
});
provider.on('grant.revoked', () => {
  stats.grant_revoked += 1;
});
for (const event of ['refresh_token.destroyed', 'access_token.destroyed']) {
  provider.on(event, () => {
    if (Provider.ctx?.oidc?.route === 'revocation') stats.revoked += 1;
  });
}
provider.on('server_error', (ctx, error) => console.error('server_error', error));

// -- the protected API, the test routes and CORS: before the provider's own routes ---------

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

const ITEMS = [
  { id: 1, title: 'first item' },
  { id: 2, title: 'second item' },
];

// -- DPoP at the API (RFC 9449 §7): the resource server's own checks -------------------------
// Everything runs on the test clock (Date is replaced above). The nonce is the API's own,
// random, unrelated to the token endpoint's (which the provider derives from nonceSecret).

const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'Ed25519', 'EdDSA'];
// As the provider's own token endpoint does: a proof without a nonce must have |now - iat| <= 60 s
// (test clock), else use_dpop_nonce (nonces on) or invalid_dpop_proof; a proof with a valid nonce is
// taken whatever its iat (the nonce bounds its age: RFC 9449 section 11.1).
const API_IAT_WINDOW_S = 60;
const API_NONCE_PERIOD_S = 120; // the API's nonce is replaced after 120 s (test clock); the previous one stays good

function newNonce() {
  return crypto.randomBytes(24).toString('base64url');
}

function initialApiDpop() {
  return {
    current: newNonce(),
    previous: undefined,
    since: Date.now(),
    seenJti: new Map(), // `${jkt} ${jti}` -> when it was seen (s, test clock)
    refuseProofs: false, // test control: refuse every proof (invalid_dpop_proof)
    rotateNonce: false, // test control: a new nonce on every answer to a DPoP request
  };
}
let apiDpop = initialApiDpop();

function rotateApiNonce() {
  apiDpop.previous = apiDpop.current;
  apiDpop.current = newNonce();
  apiDpop.since = Date.now();
}

/** The API's nonces now: current and previous, replaced as the test clock passes the period. */
function apiNonces() {
  const elapsed = Date.now() - apiDpop.since;
  if (elapsed >= 2 * API_NONCE_PERIOD_S * 1000) {
    rotateApiNonce();
    apiDpop.previous = undefined; // both are older than the period
  } else if (elapsed >= API_NONCE_PERIOD_S * 1000) {
    rotateApiNonce();
  }
  return [apiDpop.current, apiDpop.previous].filter(Boolean);
}

function forgetOldJti() {
  const now = Date.now() / 1000;
  // Kept as long as a proof could still be taken: its iat window, or its nonce's life.
  const keep = Math.max(API_IAT_WINDOW_S, 2 * API_NONCE_PERIOD_S);
  for (const [key, seenAt] of apiDpop.seenJti) {
    if (now > seenAt + keep) apiDpop.seenJti.delete(key);
  }
}

function sha256(text) {
  return crypto.createHash('sha256').update(text).digest('base64url');
}

/** `"` and `\` cannot appear in a quoted auth-param as written here. */
function quotable(text) {
  return String(text).replace(/["\\]/g, "'");
}

/**
 * Check the request's DPoP proof for the bound access token `accessToken` (thumbprint `jkt`).
 * Returns undefined when accepted, else {error: 'invalid_dpop_proof' | 'use_dpop_nonce', description}.
 * `proofNonce` is set on `result` so the caller can decide on a DPoP-Nonce header.
 */
async function checkApiProof(ctx, accessToken, jkt, result) {
  const refuse = (description) => ({ error: 'invalid_dpop_proof', description });
  if (apiDpop.refuseProofs) return refuse('every DPoP proof is refused (test control)');
  const proofs = ctx.req.headersDistinct.dpop;
  if (!proofs) return refuse('no DPoP proof (DPoP header)');
  if (proofs.length !== 1) return refuse('more than one DPoP header');
  let payload;
  let protectedHeader;
  try {
    // Signature with the embedded public JWK (a private one is refused), typ dpop+jwt,
    // an asymmetric alg of the list (none and HS* are refused).
    ({ payload, protectedHeader } = await jose.jwtVerify(proofs[0], jose.EmbeddedJWK, {
      algorithms: DPOP_ALGS,
      typ: 'dpop+jwt',
    }));
  } catch (error) {
    return refuse(`DPoP proof not verified: ${quotable(error.message)}`);
  }
  if (typeof payload.nonce === 'string') result.proofNonce = payload.nonce;
  if (typeof payload.jti !== 'string' || !payload.jti) return refuse('DPoP proof has no jti');
  if (payload.htm !== ctx.method) return refuse('DPoP proof htm mismatch');
  // The API's own URL for this request (the issuer's origin, as a resource server knows its
  // URL), without query or fragment; the proof's htu likewise, both normalised by URL.
  const expected = new URL(`${issuer}${ctx.path}`).href;
  const actual = typeof payload.htu === 'string' ? URL.parse(payload.htu) : null;
  if (actual) {
    actual.search = '';
    actual.hash = '';
  }
  if (!actual || actual.href !== expected) return refuse('DPoP proof htu mismatch');
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) return refuse('DPoP proof has no iat');
  if (payload.nonce === undefined && Math.abs(Date.now() / 1000 - payload.iat) > API_IAT_WINDOW_S) {
    const stale = `DPoP proof iat is more than ${API_IAT_WINDOW_S} s from the server clock`;
    if (options.dpop) return { error: 'use_dpop_nonce', description: `${stale}: use a DPoP nonce` };
    return refuse(stale);
  }
  if (payload.ath !== sha256(accessToken)) return refuse('DPoP proof ath mismatch');
  if ((await jose.calculateJwkThumbprint(protectedHeader.jwk)) !== jkt) {
    return refuse('DPoP proof key is not the key the access token is bound to');
  }
  if (payload.nonce !== undefined || options.dpopRequireNonce) {
    if (payload.nonce === undefined) return { error: 'use_dpop_nonce', description: 'this API requires a nonce in DPoP proofs' };
    if (!apiNonces().includes(payload.nonce)) return { error: 'use_dpop_nonce', description: 'unknown or stale DPoP nonce' };
  }
  forgetOldJti();
  const seen = `${jkt} ${payload.jti}`;
  if (apiDpop.seenJti.has(seen)) return refuse('DPoP proof jti replayed');
  apiDpop.seenJti.set(seen, Date.now() / 1000);
  return undefined;
}

function dpopChallenge(error, description) {
  const parts = [`error="${error}"`];
  if (description) parts.push(`error_description="${quotable(description)}"`);
  parts.push(`algs="${DPOP_ALGS.join(' ')}"`);
  return `DPoP ${parts.join(', ')}`;
}

// -- the protected API -------------------------------------------------------------------------

async function apiRoute(ctx) {
  const origin = ctx.get('Origin');
  if (origin && allowedOrigins.has(origin)) {
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate, DPoP-Nonce');
  }
  ctx.vary('Origin');
  if (ctx.method === 'OPTIONS') {
    if (origin && allowedOrigins.has(origin)) {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP');
      ctx.set('Access-Control-Max-Age', '600');
    }
    ctx.status = 204;
    return;
  }
  const refuse = (scheme, error, description) => {
    stats.api_401 += 1;
    ctx.set(
      'WWW-Authenticate',
      scheme === 'DPoP' ? dpopChallenge(error, description) : `Bearer error="${error}", error_description="${description}"`,
    );
    sendJson(ctx, 401, { error, error_description: description });
  };
  const match = /^(Bearer|DPoP) ([^\s]+)$/i.exec(ctx.get('Authorization'));
  if (!match) {
    stats.api_401 += 1;
    ctx.set('WWW-Authenticate', options.dpop ? `Bearer, DPoP algs="${DPOP_ALGS.join(' ')}"` : 'Bearer');
    sendJson(ctx, 401, { error: 'invalid_token', error_description: 'no bearer token' });
    return;
  }
  const scheme = match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  // The provider's own lookup: unknown, expired (test clock, no tolerance) or revoked -> undefined.
  const token = await provider.AccessToken.find(match[2]);
  if (!token) return refuse(scheme, 'invalid_token', 'unknown, expired or revoked access token');
  const audiences = [token.aud].flat();
  if (!audiences.includes(API)) return refuse(scheme, 'invalid_token', 'access token is not for this API');
  if (token.jkt) {
    if (scheme !== 'DPoP') {
      stats.api_dpop_as_bearer += 1;
      return refuse('DPoP', 'invalid_token', 'DPoP-bound access token: send it as Authorization: DPoP with a DPoP proof');
    }
    const seen = {};
    const failure = await checkApiProof(ctx, match[2], token.jkt, seen);
    if (apiDpop.rotateNonce) rotateApiNonce();
    const nonceInPlay = options.dpopRequireNonce || apiDpop.rotateNonce || seen.proofNonce !== undefined;
    if (failure?.error === 'use_dpop_nonce' || (nonceInPlay && seen.proofNonce !== apiNonces()[0])) {
      ctx.set('DPoP-Nonce', apiNonces()[0]);
    }
    if (failure) {
      if (failure.error === 'use_dpop_nonce') stats.api_dpop_nonce_challenges += 1;
      else stats.api_dpop_refused += 1;
      console.error(`API ${failure.error}: ${failure.description}`);
      return refuse('DPoP', failure.error, failure.description);
    }
    stats.api_dpop_ok += 1;
  } else if (scheme === 'DPoP') {
    return refuse('DPoP', 'invalid_token', 'not a DPoP-bound access token: send it as Authorization: Bearer');
  }
  stats.api_ok += 1;
  const path = ctx.path.slice('/api'.length);
  if (ctx.method === 'GET' && path === '/me') {
    sendJson(ctx, 200, { sub: token.accountId, scope: token.scope ?? '' });
  } else if (ctx.method === 'GET' && path === '/items') {
    sendJson(ctx, 200, ITEMS);
  } else {
    sendJson(ctx, 404, { error: 'not_found' });
  }
}

async function testRoute(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  if (route === 'GET /__test__/stats') {
    sendJson(ctx, 200, stats);
  } else if (route === 'POST /__test__/reset') {
    stats = zeroStats();
    resetStore();
    apiDpop = initialApiDpop();
    sendJson(ctx, 200, { ok: true });
  } else if (route === 'POST /__test__/clock') {
    let body;
    try {
      body = await readJson(ctx);
    } catch {
      sendJson(ctx, 400, { error: 'body is not JSON' });
      return;
    }
    const seconds = Number(body.advance);
    if (!Number.isFinite(seconds) || seconds < 0) {
      sendJson(ctx, 400, { error: '"advance" must be a number of seconds >= 0' });
      return;
    }
    offsetMs += seconds * 1000;
    sendJson(ctx, 200, { offset: offsetMs / 1000, now: Date.now() / 1000 });
  } else if (route === 'GET /__test__/dpop' || route === 'POST /__test__/dpop') {
    if (ctx.method === 'POST') {
      let body;
      try {
        body = await readJson(ctx);
      } catch {
        sendJson(ctx, 400, { error: 'body is not JSON' });
        return;
      }
      const known = new Set(['refuse_proofs', 'rotate_nonce']);
      const bad = Object.entries(body).find(([name, value]) => !known.has(name) || typeof value !== 'boolean');
      if (bad) {
        sendJson(ctx, 400, { error: `unknown setting or not a boolean: ${bad[0]}` });
        return;
      }
      if ('refuse_proofs' in body) apiDpop.refuseProofs = body.refuse_proofs;
      if ('rotate_nonce' in body) apiDpop.rotateNonce = body.rotate_nonce;
    }
    sendJson(ctx, 200, {
      refuse_proofs: apiDpop.refuseProofs,
      rotate_nonce: apiDpop.rotateNonce,
      require_nonce: options.dpopRequireNonce,
      api_nonce: apiNonces()[0],
      iat_window: API_IAT_WINDOW_S,
      nonce_period: API_NONCE_PERIOD_S,
    });
  } else {
    sendJson(ctx, 404, { error: 'not_found' });
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/api' || ctx.path.startsWith('/api/')) return apiRoute(ctx);
  if (ctx.path.startsWith('/__test__/')) return testRoute(ctx);
  await next();
  if (ctx.oidc?.route === 'revocation' && ctx.status === 200) stats.revocation_calls += 1;
  // The provider exposes DPoP-Nonce on the token endpoint but not on revocation (it never
  // sends one there): expose it there too, so a client can read every answer the same way.
  if (options.dpop && ctx.oidc?.route === 'revocation' && ctx.response.get('Access-Control-Allow-Origin')) {
    const exposed = ctx.response.get('Access-Control-Expose-Headers');
    const names = exposed ? exposed.split(',').map((name) => name.trim()) : [];
    for (const name of ['WWW-Authenticate', 'DPoP-Nonce']) {
      if (!names.some((have) => have.toLowerCase() === name.toLowerCase())) names.push(name);
    }
    ctx.set('Access-Control-Expose-Headers', names.join(', '));
  }
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
