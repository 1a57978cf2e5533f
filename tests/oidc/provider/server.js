// The OpenID Connect provider of the sign-in tests: panva's oidc-provider (OpenID Certified),
// configured the way the tests need it and nothing more. scripts/_lib.sh start_oidc_provider
// runs it on a free port of 127.0.0.1 (OIDC_PORT) with a random secret (OIDC_SECRET); it never
// listens anywhere else.
//
// What the tests rely on, and why it is configured so:
// - Each test registers its own client (Dynamic Client Registration, with OIDC_SECRET as the
//   initial access token), because its redirect URI names a port only known when its app starts.
// - Authorization Code with PKCE (S256 only, required), `state` and `nonce` as the client sends.
// - Refresh tokens rotate on every use, and a reused one revokes the whole grant (the provider's
//   own reuse detection): the behaviour that makes two racing refreshes sign the user out.
// - Token revocation (RFC 7009), RP-initiated logout and Back-Channel Logout 1.0 are on.
// - Sign-in and consent are the library's development pages (devInteractions): any login name
//   signs in as that subject, any password.
// - GET /__test/stats?client_id=... (bearer OIDC_SECRET) counts that client's token-endpoint
//   grants by grant type, its refusals and the grants revoked for it (revocation, reuse, logout),
//   so a test can count what really reached the provider.
// - POST /__test/backchannel?client_id=...&sub=...&sid=... (bearer OIDC_SECRET) makes the
//   provider send that client its Back-Channel Logout token, through oidc-provider's own code
//   (what its end_session endpoint does for every client of an ended session), and answers
//   with the status the client's endpoint gave.
// - OIDC_ACCESS_TOKEN_TTL (seconds, default 300) makes access tokens short for refresh tests.
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const secret = process.env.OIDC_SECRET;
if (!Number.isInteger(port) || port <= 0 || !secret || secret.length < 16) {
  console.error('OIDC_PORT (a port) and OIDC_SECRET (16+ characters) are required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const accessTokenTtl = Number(process.env.OIDC_ACCESS_TOKEN_TTL || 300);

// a signing key made at start: nothing to keep on disk, and each run has its own
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

// per client id (each test registers its own client): { grants: {type: n}, refused: {key: n} }
const stats = new Map();
function statsOf(ctx) {
  const id = ctx.oidc?.client?.clientId || 'unknown';
  if (!stats.has(id)) stats.set(id, { grants: {}, refused: {}, revoked: 0 });
  return stats.get(id);
}

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [secret] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true, initialAccessToken: secret },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  pkce: { required: () => true, methods: ['S256'] },
  rotateRefreshToken: true,
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Grant: 86400,
    RefreshToken: 86400,
    Session: 86400,
  },
});

provider.on('grant.success', (ctx) => {
  const { grants } = statsOf(ctx);
  const type = ctx.oidc.params.grant_type;
  grants[type] = (grants[type] || 0) + 1;
});
provider.on('grant.error', (ctx, error) => {
  const { refused } = statsOf(ctx);
  const key = `${ctx.oidc.params?.grant_type || 'unknown'}:${error.error || error.name}`;
  refused[key] = (refused[key] || 0) + 1;
});
provider.on('grant.revoked', (ctx) => {
  statsOf(ctx).revoked += 1;
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__test/')) {
    await next();
    return;
  }
  if (ctx.get('authorization') !== `Bearer ${secret}`) {
    ctx.status = 401;
    return;
  }
  ctx.type = 'json';
  if (ctx.path === '/__test/stats') {
    ctx.body = JSON.stringify(stats.get(ctx.query.client_id) || { grants: {}, refused: {}, revoked: 0 });
    return;
  }
  if (ctx.path === '/__test/backchannel' && ctx.method === 'POST') {
    const client = await provider.Client.find(String(ctx.query.client_id));
    if (!client) {
      ctx.status = 404;
      ctx.body = '{"error":"no such client"}';
      return;
    }
    try {
      await client.backchannelLogout(String(ctx.query.sub), String(ctx.query.sid || ''));
      ctx.body = '{"delivered":true}';
    } catch (error) {
      ctx.status = 502;
      ctx.body = JSON.stringify({ delivered: false, error: String(error.message) });
    }
    return;
  }
  ctx.status = 404;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
