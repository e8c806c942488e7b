// node-oidc-provider (npm `oidc-provider`, pinned in the root package.json) set up as the
// standard OpenID provider the tests sign in at, with a small protected API beside it and a
// test clock. See README.md in this folder for every setting and why.
//
//   node tests/oidc_provider/provider.mjs --port 0 --redirect-uri URI ...
//        [--post-logout-redirect-uri URI ...] [--cors-origin ORIGIN ...]
//        [--access-ttl 60] [--dpop]
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

// -- the command line ---------------------------------------------------------------------

const USAGE = `usage: node tests/oidc_provider/provider.mjs --port 0 --redirect-uri URI ...
       [--post-logout-redirect-uri URI ...] [--cors-origin ORIGIN ...] [--access-ttl 60] [--dpop]`;

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
    dpop: parsed.dpop,
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
      ? { enabled: true, nonceSecret: crypto.randomBytes(32) }
      : { enabled: false },
  },
};

const provider = new Provider(issuer, configuration);

provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params?.grant_type;
  if (grantType === 'authorization_code') stats.code_exchanged += 1;
  if (grantType === 'refresh_token') stats.refresh_ok += 1;
});
provider.on('grant.error', (ctx, error) => {
  if (error?.error !== 'invalid_grant') return;
  stats.invalid_grant += 1;
  if (error.error_detail === 'refresh token already used') stats.reuse_detected += 1;
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
  const refuse = (description) => {
    stats.api_401 += 1;
    ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`);
    sendJson(ctx, 401, { error: 'invalid_token', error_description: description });
  };
  const match = /^Bearer ([^\s]+)$/i.exec(ctx.get('Authorization'));
  if (!match) {
    stats.api_401 += 1;
    ctx.set('WWW-Authenticate', 'Bearer');
    sendJson(ctx, 401, { error: 'invalid_token', error_description: 'no bearer token' });
    return;
  }
  // The provider's own lookup: unknown, expired (test clock, no tolerance) or revoked -> undefined.
  const token = await provider.AccessToken.find(match[1]);
  if (!token) return refuse('unknown, expired or revoked access token');
  const audiences = [token.aud].flat();
  if (!audiences.includes(API)) return refuse('access token is not for this API');
  if (token.jkt) return refuse('DPoP-bound access token: this API does not check DPoP proofs yet');
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
  } else {
    sendJson(ctx, 404, { error: 'not_found' });
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/api' || ctx.path.startsWith('/api/')) return apiRoute(ctx);
  if (ctx.path.startsWith('/__test__/')) return testRoute(ctx);
  await next();
  if (ctx.oidc?.route === 'revocation' && ctx.status === 200) stats.revocation_calls += 1;
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
