'use strict';
// The pages' login when the API wants a bearer token (AUTH_MODE=jwt):
// OpenID Connect authorization code flow with PKCE (S256), `state` and
// `nonce` checked, as a public client of the issuer named by the server,
// found through its discovery document. The access token lives in this
// script's memory only: a reload or a new page logs in again, which is a
// quick round trip while the provider's own session lasts. Only what must
// survive the trip to the provider and back (PKCE verifier, state, nonce,
// the page to return to) waits in sessionStorage, and is removed as soon as
// the provider answers. The single redirect URI is the ward page, `/`.
const Auth = (() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? '';
  const enabled = meta('icu-auth-mode') === 'jwt';
  const issuer = meta('icu-auth-issuer');
  const clientId = meta('icu-auth-client-id');
  const scopes = meta('icu-auth-scopes') || 'openid';
  const PENDING = 'icu-monitor.login';
  const redirectUri = `${location.origin}/`;
  // A token the API refuses this soon after it was issued will not get
  // better by logging in again (a configuration mismatch, such as another
  // audience): say so rather than loop through the provider.
  const FRESH_MS = 10_000;
  let token = null; // { access, issuedAt, expiresAt, idToken, claims }
  let renewal = null;
  let onFailure = () => {};

  class LoginError extends Error {}

  const b64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const random = (bytes) => b64url(crypto.getRandomValues(new Uint8Array(bytes)));

  let discovered = null;
  function discovery() {
    if (!discovered) {
      discovered = (async () => {
        const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
        let response;
        try {
          response = await fetch(url, { cache: 'no-store', credentials: 'omit' });
        } catch (e) {
          throw new LoginError(`the OpenID provider cannot be reached (${url}): ${e.message}`);
        }
        if (!response.ok) throw new LoginError(`the provider's discovery document ${url} answered HTTP ${response.status}`);
        const doc = await response.json();
        // OpenID Connect Discovery 1.0, section 4.3: it must name the issuer we trust.
        if (doc.issuer !== issuer) throw new LoginError(`the discovery document names the issuer ${doc.issuer}, not ${issuer}`);
        if (!doc.authorization_endpoint || !doc.token_endpoint) throw new LoginError('the discovery document lacks its endpoints');
        const methods = doc.code_challenge_methods_supported;
        if (Array.isArray(methods) && !methods.includes('S256')) throw new LoginError('the provider does not offer PKCE with S256');
        return doc;
      })();
      discovered.catch(() => { discovered = null; }); // try again next time
    }
    return discovered;
  }

  // Off to the provider; the returned promise never settles (the page leaves).
  async function login() {
    if (!crypto.subtle) throw new LoginError('logging in needs a secure page: https (or http on localhost)');
    const provider = await discovery();
    const verifier = random(32);
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const pending = { state: random(16), nonce: random(16), verifier, returnTo: location.pathname + location.search };
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    const url = new URL(provider.authorization_endpoint);
    for (const [key, value] of Object.entries({
      response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: scopes,
      state: pending.state, nonce: pending.nonce, code_challenge: challenge, code_challenge_method: 'S256',
    })) url.searchParams.set(key, value);
    location.assign(url.href);
    return new Promise(() => {});
  }

  // The provider sent the browser back to `/` with a code (or an error).
  async function complete(params) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
    sessionStorage.removeItem(PENDING); // single use, whatever happens next
    // The code must not stay in the address bar or the history.
    history.replaceState(null, '', '/');
    if (!pending || params.get('state') !== pending.state) {
      throw new LoginError('the answer from the provider does not belong to a login this page started (state)');
    }
    if (params.has('error')) {
      throw new LoginError(`the provider refused the login: ${params.get('error')} ${params.get('error_description') || ''}`);
    }
    // RFC 9207: when the provider names itself, it must be ours.
    if (params.has('iss') && params.get('iss') !== issuer) throw new LoginError('the answer comes from another issuer');
    const provider = await discovery();
    const response = await fetch(provider.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: params.get('code') || '', redirect_uri: redirectUri,
        client_id: clientId, code_verifier: pending.verifier,
      }),
      cache: 'no-store',
      credentials: 'omit',
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new LoginError(`the provider issued no token: ${body.error || 'HTTP ' + response.status} ${body.error_description || ''}`);
    }
    if (!body.access_token || String(body.token_type).toLowerCase() !== 'bearer') {
      throw new LoginError('the provider answered without a bearer access token');
    }
    const claims = idTokenClaims(body.id_token, pending.nonce);
    const now = Date.now();
    const lifetime = Number(body.expires_in) > 0 ? Number(body.expires_in) * 1000 : 300_000;
    token = { access: body.access_token, issuedAt: now, expiresAt: now + lifetime, idToken: body.id_token, claims };
    // Log in again when it expires: an open stream would otherwise outlive it.
    setTimeout(() => renew().catch(onFailure), Math.min(lifetime, 2 ** 31 - 1));
    const back = pending.returnTo;
    history.replaceState(null, '', back.startsWith('/') && !back.startsWith('//') ? back : '/');
  }

  // OpenID Connect Core 1.0, 3.1.3.7. The ID token came straight from the
  // token endpoint over the connection the page opened, which the spec
  // accepts in place of checking its signature (item 6); the claims are
  // checked here. The page reads it only for who signed in.
  function idTokenClaims(idToken, nonce) {
    if (!idToken) throw new LoginError('the provider sent no ID token (is `openid` among AUTH_SCOPES?)');
    let claims;
    try {
      const payload = idToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
    } catch (_) {
      throw new LoginError('the ID token is not a JWT');
    }
    const audiences = [].concat(claims.aud);
    if (claims.iss !== issuer) throw new LoginError(`the ID token was issued by ${claims.iss}, not ${issuer}`);
    if (!audiences.includes(clientId) || (claims.azp && claims.azp !== clientId)) {
      throw new LoginError('the ID token is meant for another client');
    }
    if (claims.nonce !== nonce) throw new LoginError('the ID token does not carry the nonce of this login');
    if (!(claims.exp * 1000 > Date.now() - 60_000)) throw new LoginError('the ID token has expired');
    return claims;
  }

  function renew() {
    token = null;
    if (!renewal) renewal = login().finally(() => { renewal = null; });
    return renewal;
  }

  let started = null;
  // Resolves once the page holds a token (at once without access control).
  function ready() {
    if (!started) {
      started = (async () => {
        if (!enabled) return;
        if (!issuer || !clientId) {
          throw new LoginError(`this ward's API needs a login, but ${issuer ? 'AUTH_CLIENT_ID' : 'AUTH_ISSUER'} is not set on monitor-service`);
        }
        const params = new URLSearchParams(location.search);
        if (location.pathname === '/' && params.has('state') && (params.has('code') || params.has('error'))) {
          return complete(params);
        }
        return login();
      })();
    }
    return started;
  }

  // The `Authorization` header of an API request or the stream.
  async function headers() {
    if (!enabled) return {};
    await ready();
    if (!token || Date.now() >= token.expiresAt) await renew();
    return { Authorization: `Bearer ${token.access}` };
  }

  // The API answered 401 (the token expired early, was revoked, or the
  // keys rotated): log in again, unless the token is brand new.
  async function rejected(detail) {
    if (token && Date.now() - token.issuedAt < FRESH_MS) {
      const error = new LoginError(`the API refuses the token the provider has just issued: ${detail}`);
      onFailure(error);
      throw error;
    }
    return renew();
  }

  async function signOut() {
    const idToken = token?.idToken;
    token = null;
    let provider = null;
    try { provider = await discovery(); } catch (_) { /* signed out of this page at least */ }
    if (provider?.end_session_endpoint) {
      // RP-initiated logout: the provider ends its session and sends the
      // browser back to the ward, which then asks for a new login.
      const url = new URL(provider.end_session_endpoint);
      url.searchParams.set('client_id', clientId);
      url.searchParams.set('post_logout_redirect_uri', redirectUri);
      if (idToken) url.searchParams.set('id_token_hint', idToken);
      location.assign(url.href);
    } else {
      onFailure(new LoginError('signed out of this page (the provider offers no sign-out; its own session may remain)'));
    }
  }

  const user = () => token && (token.claims.name || token.claims.preferred_username || token.claims.email || token.claims.sub);

  return {
    enabled, ready, headers, rejected, signOut, user, LoginError,
    login: () => login().catch(onFailure),
    onFailure(fn) { onFailure = fn; },
  };
})();
