// A real OpenID provider for the login tests: npm's `oidc-provider` (an
// OpenID-certified implementation) on 127.0.0.1, with its built-in login
// and consent pages. It issues JWT access tokens (RS256, a key made here)
// for one resource, the ward's API, carrying the claims monitor-service
// reads: `roles` and, for a patient, `patient_id`.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

// accounts: { login: { name, password, roles, patientId? } }; a patient's
// uuid may be filled in after the start (it is the emulator's).
export async function startProvider({ port, clientId, redirectUri, audience, accounts, tokenSeconds = 600 }) {
  const issuer = `http://127.0.0.1:${port}`;
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      token_endpoint_auth_method: 'none', // a public client: the page
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [{ ...jwk, kid: 'ward-test-rs256', alg: 'RS256', use: 'sig' }] },
    async findAccount(_ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, name: account.name }) };
    },
    claims: { openid: ['sub'], profile: ['name'] },
    // The name in the ID token too: the page shows who signed in from it.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The page asks for no `resource`: every token is for the ward's API.
        defaultResource: async () => audience,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, indicator) {
          if (indicator !== audience) throw new errors.InvalidTarget();
          return { scope: '', audience, accessTokenTTL: tokenSeconds, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const account = accounts[token.accountId];
      if (!account || token.kind !== 'AccessToken') return undefined;
      return { roles: account.roles, ...(account.patientId ? { patient_id: account.patientId } : {}) };
    },
  });
  // The built-in login page takes any password: check ours first.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/')) {
      const body = await new Promise((resolve) => {
        let text = '';
        ctx.req.on('data', (c) => { text += c; });
        ctx.req.on('end', () => resolve(new URLSearchParams(text)));
      });
      if (body.get('prompt') === 'login' && accounts[body.get('login')]?.password !== body.get('password')) {
        ctx.status = 403;
        ctx.body = 'wrong login or password';
        return;
      }
      // Hand the body on, as read.
      ctx.req.body = Object.fromEntries(body);
    }
    await next();
  });
  const server = http.createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { issuer, jwksUrl: `${issuer}/jwks`, close: () => new Promise((r) => server.close(r)) };
}
