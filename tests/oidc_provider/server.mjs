// A local OpenID Connect provider that behaves like INDIGO IAM, for the portal's tests and its demo only.
//
// Built on the OpenID-certified `oidc-provider` package. It listens on 127.0.0.1 only and is started by the
// session fixture in tests/oidc.py, or by scripts/oidc-provider for the demo (scripts/run) with demo users of its
// own; either passes everything through the environment:
//   OP_PORT                 port on 127.0.0.1
//   OP_USERS                users.json (password, IAM claims, groups; see below)
//   OP_KEY_DIR              a temporary directory: the RS256 signing key is made there at every start
//   OP_REDIRECT_URIS        comma-separated redirect URIs of the portal client (exact, like IAM)
//   OP_POST_LOGOUT_URIS     comma-separated post-logout redirect URIs of the portal client
//   OP_CLIENT_ID, OP_CLIENT_SECRET   the portal's client (confidential, client_secret_basic like IAM's default)
//   OP_ADMIN_TOKEN          secret the tests send in `x-test-admin` to the /_test/ endpoints
//
// Group claims, per user (`profile` in users.json), because IAM's token profiles send groups differently:
//   "iam"  (default) `groups` without a leading slash (escape/cta), with the `profile` scope
//   "wlcg"           `wlcg.groups` with a leading slash (/escape/cta), with the `wlcg.groups` scope
//   "aarc"           `eduperson_entitlement` URNs (urn:geant:escape.eu:group:escape:cta#...), with its scope
// `groups_only_in: "id_token"` leaves the groups out of the userinfo answer (they are in the ID token only).
//
// Access tokens with an audience, as IAM issues them for `oidc-token --aud=...`: a client asks for one with
// a resource indicator (RFC 8707, `resource=` at /auth and /token); the token's `aud` is that URI, or `<aud>`
// for `urn:audience:<aud>` (IAM takes any audience string, such as a client ID; a resource indicator must be an
// absolute URI). They are RS256 JWTs signed by the provider's key, like IAM's (or opaque, see /_test/format).
// Like IAM, and unlike oidc-provider itself, userinfo answers for them too (their audience does not matter
// there); introspection answers for the opaque ones. Tokens asked without a resource stay opaque, without
// audience (the portal's own login gets those).
//
// Test-only knobs (loopback, admin token required), so that tests can cause what a real IAM rarely does:
//   POST /_test/reset                 users back to users.json, knobs off, counters zero
//   PUT  /_test/users/<name>          change a user's claims, e.g. {"groups": [...]} (the next login sees it)
//   POST /_test/tamper {"mode": m}    spoil the next ID token: signature | audience | issuer | expired |
//                                     nonce | foreign-key (re-signed by a key the JWKS does not hold)
//   POST /_test/ttl {"access_token": s}   lifetime of access tokens issued from now on
//   POST /_test/format {"access_token": f}   format of access tokens with an audience: jwt (default) | opaque
//   POST /_test/introspection {"advertised": b}   whether discovery names the introspection endpoint
//   GET  /_test/stats                 {"userinfo": ..., "introspection": ...}: numbers of requests
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse as parseQs } from 'node:querystring';

import Provider from 'oidc-provider';

const here = path.dirname(new URL(import.meta.url).pathname);
const PORT = Number(process.env.OP_PORT || 9000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const USERS_FILE = process.env.OP_USERS || path.join(here, 'users.json');
const ADMIN_TOKEN = process.env.OP_ADMIN_TOKEN || crypto.randomBytes(16).toString('hex');
const list = (value, fallback) => (value || fallback).split(',').map((s) => s.trim()).filter(Boolean);

// --- state the tests may change through /_test/ ---------------------------------------------------------
const loadUsers = () => JSON.parse(fs.readFileSync(USERS_FILE, 'utf8'));
let users = loadUsers();
const DEFAULT_STATE = {
  tamper: null, accessTokenTtl: 3600, accessTokenFormat: 'jwt', introspectionAdvertised: true, userinfoCalls: 0, introspectionCalls: 0,
};
const state = { ...DEFAULT_STATE };
const userBySub = (sub) => Object.values(users).find((u) => u.sub === sub);

// --- signing key: new at every start, written only into the temporary directory -------------------------
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: `test-${crypto.randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };
if (process.env.OP_KEY_DIR) {
  fs.writeFileSync(path.join(process.env.OP_KEY_DIR, 'jwks.json'), JSON.stringify({ keys: [signingJwk] }), { mode: 0o600 });
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${body}</body></html>`;

function groupClaims(user, use) {
  const groups = user.groups || [];
  if (use === 'userinfo' && user.groups_only_in === 'id_token') return {};
  switch (user.profile || 'iam') {
    case 'wlcg':
      return { 'wlcg.groups': groups.map((g) => `/${g}`) };
    case 'aarc':
      // AARC-G002: <namespace>:group:<group>[:<subgroup>*][:role=<role>]#<authority>
      return {
        eduperson_entitlement: groups.flatMap((g) => {
          const urn = `urn:geant:escape.eu:group:${g.replaceAll('/', ':')}`;
          return [`${urn}#iam.test.example`, `${urn}:role=member#iam.test.example`];
        }),
      };
    default:
      return { groups };
  }
}

const AUDIENCE_URN = 'urn:audience:';
const RESOURCE_SCOPES = 'openid profile email wlcg.groups eduperson_entitlement';

const configuration = {
  clients: [
    {
      client_id: process.env.OP_CLIENT_ID || 'portal',
      client_secret: process.env.OP_CLIENT_SECRET || 'portal-secret',
      redirect_uris: list(process.env.OP_REDIRECT_URIS, 'http://127.0.0.1:8000/oidc/callback/'),
      post_logout_redirect_uris: list(process.env.OP_POST_LOGOUT_URIS, 'http://127.0.0.1:8000/accounts/login/'),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic', // IAM's default for a new client
      id_token_signed_response_alg: 'RS256',
    },
    {
      // A public client with PKCE, as oidc-agent is: how a user's script gets an access token for the API.
      client_id: 'cli',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/cli-callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: {
    // Never Django's names (sessionid, csrftoken): the portal and this provider share the host 127.0.0.1.
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    keys: [crypto.randomBytes(32).toString('hex')],
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'organisation_name', 'groups'],
    email: ['email', 'email_verified'],
    'wlcg.groups': ['wlcg.groups'],
    eduperson_entitlement: ['eduperson_entitlement'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'wlcg.groups', 'eduperson_entitlement'],
  // Like IAM: the profile claims (groups among them) are in the ID token too, not only at userinfo.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false }, // its development login accepts any password; ours checks them
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async (ctx, resourceIndicator) => ({
        audience: resourceIndicator.startsWith(AUDIENCE_URN) ? resourceIndicator.slice(AUDIENCE_URN.length) : resourceIndicator,
        // IAM's access tokens carry the OpenID scopes too, so that userinfo answers for them.
        scope: RESOURCE_SCOPES,
        accessTokenFormat: state.accessTokenFormat,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
    revocation: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Test IAM sign-out', `<h1>Sign out of Test IAM?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Test IAM', '<h1>Signed out of Test IAM</h1>');
      },
    },
  },
  pkce: { required: () => true }, // the portal must use PKCE; a login without it fails
  clockTolerance: 0, // an expired token is expired at once (the default tolerates 15 s), so tests need not wait
  ttl: {
    AccessToken: () => state.accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Test IAM error', `<h1>Error</h1><pre>${esc(JSON.stringify(out))}</pre>`);
  },
  async findAccount(ctx, sub) {
    if (!userBySub(sub)) return undefined;
    return {
      accountId: sub,
      async claims(use) {
        const u = userBySub(sub) || {}; // read at every call: /_test/users changes show at the next login
        return {
          sub,
          name: u.name,
          given_name: u.given_name,
          family_name: u.family_name,
          preferred_username: u.preferred_username,
          email: u.email,
          email_verified: u.email_verified,
          organisation_name: u.organisation_name,
          ...groupClaims(u, use),
        };
      },
    };
  },
};

const provider = new Provider(ISSUER, configuration);

// --- spoiling the next ID token, as a broken or malicious provider would ---------------------------------
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const unb64 = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
function sign(header, payload, key) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}
function tamper(idToken, mode) {
  const [h, p, s] = idToken.split('.');
  const header = unb64(h);
  const payload = unb64(p);
  switch (mode) {
    case 'signature': // a changed claim under the old signature
      return `${h}.${b64({ ...payload, sub: 'someone-else' })}.${s}`;
    case 'audience':
      return sign(header, { ...payload, aud: 'another-client' }, privateKey);
    case 'issuer':
      return sign(header, { ...payload, iss: 'https://evil.example' }, privateKey);
    case 'expired':
      return sign(header, { ...payload, iat: payload.iat - 7200, exp: payload.iat - 3600 }, privateKey);
    case 'nonce':
      return sign(header, { ...payload, nonce: 'not-the-nonce-you-sent' }, privateKey);
    case 'foreign-key':
      return sign(header, payload, crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    default:
      throw new Error(`unknown tamper mode ${mode}`);
  }
}
provider.use(async (ctx, next) => {
  if (ctx.path === '/token/introspection') state.introspectionCalls += 1;
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && !state.introspectionAdvertised && ctx.body) {
    const { introspection_endpoint: _, ...rest } = ctx.body;
    ctx.body = rest;
  }
  if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && state.tamper && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: tamper(ctx.body.id_token, state.tamper) };
    state.tamper = null;
  }
  if (ctx.path === '/me') state.userinfoCalls += 1;
});

// --- HTTP: login form, consent, test knobs; everything else is the provider's ----------------------------
const readBody = (req) => new Promise((resolve) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => resolve(body));
});
const send = (res, status, body, type = 'text/html; charset=utf-8') => {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
};
const loginForm = (uid, error = '') => page('Test IAM login', `<h1>Test IAM login</h1>
${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="username">Username</label> <input id="username" name="username" autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit">Sign in</button></form>`);

async function finish(req, res, details, accountId, withLogin) {
  const { params, prompt } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid')); // consent to everything asked, like an approved site
  if (prompt.details?.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details?.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const result = { consent: { grantId: await grant.save() } };
  if (withLogin) result.login = { accountId };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function testKnob(req, res) {
  if (req.headers['x-test-admin'] !== ADMIN_TOKEN) return send(res, 403, '{"error":"forbidden"}', 'application/json');
  const url = new URL(req.url, ISSUER);
  const body = req.method === 'GET' ? {} : JSON.parse((await readBody(req)) || '{}');
  const user = url.pathname.match(/^\/_test\/users\/([^/]+)$/);
  if (url.pathname === '/_test/reset' && req.method === 'POST') {
    users = loadUsers();
    Object.assign(state, DEFAULT_STATE);
  } else if (user && req.method === 'PUT') {
    if (!users[user[1]]) return send(res, 404, '{"error":"no such user"}', 'application/json');
    Object.assign(users[user[1]], body);
  } else if (url.pathname === '/_test/tamper' && req.method === 'POST') {
    state.tamper = body.mode;
  } else if (url.pathname === '/_test/ttl' && req.method === 'POST') {
    state.accessTokenTtl = Number(body.access_token);
  } else if (url.pathname === '/_test/format' && req.method === 'POST') {
    state.accessTokenFormat = body.access_token;
  } else if (url.pathname === '/_test/introspection' && req.method === 'POST') {
    state.introspectionAdvertised = Boolean(body.advertised);
  } else if (url.pathname !== '/_test/stats') {
    return send(res, 404, '{"error":"no such knob"}', 'application/json');
  }
  const stats = { userinfo: state.userinfoCalls, introspection: state.introspectionCalls };
  return send(res, 200, JSON.stringify(stats), 'application/json');
}

// --- userinfo for access tokens with an audience, as IAM answers it (oidc-provider refuses them there) ------
// The token as userinfo sees it: {sub, scope}; null for a bad one; undefined to leave it to oidc-provider.
async function audienceToken(value) {
  const parts = value.split('.');
  if (parts.length === 3) {
    let header;
    let payload;
    try {
      header = unb64(parts[0]);
      payload = unb64(parts[1]);
    } catch {
      return null;
    }
    const signed = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
    // at+jwt: an ID token (same key) is no access token.
    const valid = signed && header.typ === 'at+jwt' && payload.iss === ISSUER && payload.exp > Date.now() / 1000;
    return valid ? { sub: payload.sub, scope: payload.scope || '' } : null;
  }
  const token = await provider.AccessToken.find(value);
  if (!token || token.aud === undefined) return undefined;
  return token.isValid ? { sub: token.accountId, scope: token.scope || '' } : null;
}

async function userinfo(req, res, value) {
  const token = await audienceToken(value);
  if (token === undefined) return false;
  state.userinfoCalls += 1;
  const u = token && userBySub(token.sub);
  if (!u) {
    res.writeHead(401, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'www-authenticate': `Bearer realm="${ISSUER}", error="invalid_token", error_description="invalid token provided"`,
    });
    res.end('{"error":"invalid_token","error_description":"invalid token provided"}');
    return true;
  }
  const scopes = token.scope.split(' ');
  const names = new Set(['sub', ...scopes.flatMap((scope) => configuration.claims[scope] || [])]);
  const claims = await (await configuration.findAccount(undefined, token.sub)).claims('userinfo');
  const shown = Object.fromEntries(Object.entries(claims).filter(([name, v]) => names.has(name) && v !== undefined));
  send(res, 200, JSON.stringify(shown), 'application/json');
  return true;
}

const opCallback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    if (req.url.startsWith('/_test/')) return await testKnob(req, res);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
    if (req.url.split('?')[0] === '/me' && bearer && (await userinfo(req, res, bearer[1]))) return undefined;
    const m = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
    if (!m) return opCallback(req, res);
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET' && !m[2]) {
      if (details.prompt.name === 'login') return send(res, 200, loginForm(details.uid));
      return await finish(req, res, details, details.session.accountId, false);
    }
    if (req.method === 'POST' && m[2]) {
      const form = parseQs(await readBody(req));
      const u = users[form.username];
      const given = Buffer.from(String(form.password || ''));
      const wanted = Buffer.from(u ? u.password : '');
      if (!u || given.length !== wanted.length || !crypto.timingSafeEqual(given, wanted)) {
        return send(res, 401, loginForm(details.uid, 'Invalid username or password'));
      }
      return await finish(req, res, details, u.sub, true);
    }
    return send(res, 405, page('Test IAM', 'method not allowed'));
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, page('Test IAM error', esc(err.message)));
  }
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`test OP listening issuer=${ISSUER}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
