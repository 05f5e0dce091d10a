// A local OpenID Connect provider that behaves like INDIGO IAM, for the portal's tests only.
//
// Built on the OpenID-certified `oidc-provider` package. It listens on 127.0.0.1 only and is started by the
// session fixture in tests/oidc.py, which passes everything through the environment:
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
// Test-only knobs (loopback, admin token required), so that tests can cause what a real IAM rarely does:
//   POST /_test/reset                 users back to users.json, knobs off, counters zero
//   PUT  /_test/users/<name>          change a user's claims, e.g. {"groups": [...]} (the next login sees it)
//   POST /_test/tamper {"mode": m}    spoil the next ID token: signature | audience | issuer | expired |
//                                     nonce | foreign-key (re-signed by a key the JWKS does not hold)
//   POST /_test/ttl {"access_token": s}   lifetime of access tokens issued from now on
//   GET  /_test/stats                 {"userinfo": number of userinfo requests}
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
const state = { tamper: null, accessTokenTtl: 3600, userinfoCalls: 0 };
const userBySub = (sub) => Object.values(users).find((u) => u.sub === sub);

// --- signing key: new at every start, written only into the temporary directory -------------------------
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
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
  await next();
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
    Object.assign(state, { tamper: null, accessTokenTtl: 3600, userinfoCalls: 0 });
  } else if (user && req.method === 'PUT') {
    if (!users[user[1]]) return send(res, 404, '{"error":"no such user"}', 'application/json');
    Object.assign(users[user[1]], body);
  } else if (url.pathname === '/_test/tamper' && req.method === 'POST') {
    state.tamper = body.mode;
  } else if (url.pathname === '/_test/ttl' && req.method === 'POST') {
    state.accessTokenTtl = Number(body.access_token);
  } else if (url.pathname !== '/_test/stats') {
    return send(res, 404, '{"error":"no such knob"}', 'application/json');
  }
  return send(res, 200, JSON.stringify({ userinfo: state.userinfoCalls }), 'application/json');
}

const opCallback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    if (req.url.startsWith('/_test/')) return await testKnob(req, res);
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
