// The ward pages with access control on (AUTH_MODE=jwt), in Debian's
// headless Chromium driven by playwright-core, against a real OpenID
// provider (npm's oidc-provider, provider.mjs) and `icu demo --auth-mode jwt`:
// the page logs in by the authorization code flow with PKCE; a patient sees
// only their own bed and is refused another patient's page, visibly; after
// signing out, a clinician sees the whole ward, live through the stream;
// the token goes in the Authorization header only, never in a URL or in
// the browser's storage; an expired token or a 401 means a new login, but a
// 401 to a brand-new token is shown instead of looping.
//
// Env: ICU_BIN (the icu binary), DATABASE_URL (a fresh database),
// ARTIFACTS (directory for screenshots and logs), PATIENTS (default 4).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fail, need, step, until, sleep, json, runTest, freePort, startDemo, launchBrowser } from './harness.mjs';
import { startProvider } from './provider.mjs';

const stage = 'scripts/stages/65-oidc-browser.sh';
const icu = need('ICU_BIN', stage);
const databaseUrl = need('DATABASE_URL', stage);
const artifacts = need('ARTIFACTS', stage);
const patients = Number(process.env.PATIENTS || 4);
const interval = 1; // seconds
// Short, so that the test sees the page log in again when it expires.
const tokenSeconds = 40;
mkdirSync(artifacts, { recursive: true });

const [providerPort, apiPort] = [await freePort(), await freePort()];
const ward = `http://127.0.0.1:${apiPort}`;
const clientId = 'icu-ward';
const audience = 'urn:icu-monitor:api';
const accounts = {
  'pat': { name: 'Pat Patient', password: 'pat-secret', roles: ['patient'], patientId: null },
  'dr-clin': { name: 'Dr Clin Ician', password: 'clin-secret', roles: ['clinician'] },
};
step(`OpenID provider on 127.0.0.1:${providerPort}`);
const provider = await startProvider({
  port: providerPort, clientId, redirectUri: `${ward}/`, audience, accounts, tokenSeconds,
});
const demo = await startDemo({
  icu, databaseUrl, patients, interval, artifacts, apiPort, log: 'icu-demo-oidc.log',
  args: ['--auth-mode', 'jwt'],
  env: {
    AUTH_ISSUER: provider.issuer, AUTH_JWKS_URL: provider.jwksUrl, AUTH_AUDIENCE: audience,
    AUTH_CLIENT_ID: clientId, AUTH_SCOPES: 'openid profile',
  },
});
let browser;
const stopAll = async () => {
  if (browser) await browser.close().catch(() => {});
  demo.stop();
  await provider.close();
};

await runTest({ demo, stop: stopAll, artifacts }, async () => {
  const emulated = await until('the emulator admits its patients', 60, async () => {
    const body = await json(`${demo.emulator}/patients`);
    return body.patients.length === patients && body.patients;
  });
  const [own, other] = [emulated[0].uuid, emulated[1].uuid];
  accounts.pat.patientId = own;
  await until('the API answers, and wants a token', 60, async () => (await fetch(`${ward}/api/v1/patients`)).status === 401);

  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // What went to the API: each request's path and Authorization header.
  const apiCalls = [];
  const tokenRequests = [];
  page.on('request', async (r) => {
    const url = new URL(r.url());
    if (url.origin === ward && url.pathname.startsWith('/api/')) apiCalls.push({ url: r.url(), authorization: (await r.allHeaders()).authorization });
    if (url.origin === provider.issuer && url.pathname === '/token') tokenRequests.push(r.postData() || '');
  });

  async function signIn(login, password) {
    await until('the provider asks who signs in', 20, () => page.locator('input[name="login"]').isVisible());
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    // The first login of a user asks their consent once.
    await until(`${login} is back on the ward's origin`, 20, async () => {
      if (new URL(page.url()).origin === ward) return true;
      const consent = page.locator('button[type="submit"]:has-text("Continue")');
      if (await consent.isVisible()) await consent.click();
      return false;
    });
  }

  step('an answer that does not belong to a login of this page is refused (state)');
  await page.goto(`${ward}/?code=stolen-code&state=forged`);
  await until('the forged answer is refused, visibly', 15, async () =>
    (await page.locator('#login').isVisible()) && (await page.locator('#login-text').textContent()).includes('(state)'));
  if (new URL(page.url()).search.includes('stolen-code')) fail('the code stays in the address bar');
  if (tokenRequests.length) fail('a forged answer reached the token endpoint');

  step('the patient signs in through the provider (code flow + PKCE) and sees only their bed');
  await page.click('#login-again');
  await signIn('pat', 'pat-secret');
  const tiles = page.locator('[data-patient]');
  await until('one tile, the patient\'s own, with values', 60, async () =>
    (await tiles.count()) === 1 && (await tiles.first().getAttribute('data-patient')) === own
      && /^\d+$/.test(await tiles.first().locator('dd[data-vital="pulse"] .value').textContent()));
  const whoami = await page.locator('#whoami').textContent();
  if (!whoami.includes('Pat Patient')) fail(`who is signed in is shown: ${whoami}`);
  if (!/code_verifier=[\w-]{43}/.test(tokenRequests[0] || '')) fail(`the token request carries a PKCE verifier: ${tokenRequests[0]}`);
  const stamp = async () => tiles.first().getAttribute('data-timestamp');
  const before = await stamp();
  await until('the patient\'s tile changes live', 3 * interval + 5, async () => (await stamp()) !== before);
  if ((await tiles.count()) !== 1) fail('another patient appeared on the patient\'s ward page');
  await page.screenshot({ path: path.join(artifacts, 'oidc-patient-ward.png') });

  step('the token travels in the Authorization header only, the stream included');
  const stream = apiCalls.find((c) => new URL(c.url).pathname === '/api/v1/stream');
  if (!stream) fail(`the page opened the stream: ${apiCalls.map((c) => c.url)}`);
  const bearer = apiCalls.map((c) => c.authorization).find(Boolean);
  if (!bearer || !bearer.startsWith('Bearer ')) fail('API requests carry a bearer token');
  const token = bearer.slice('Bearer '.length);
  for (const call of apiCalls) {
    if (!call.authorization?.startsWith('Bearer ')) fail(`${call.url} went without a token`);
    if (call.url.includes(token.slice(-20))) fail(`the token is in a URL: ${call.url}`);
  }
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  if (stored.includes(token.split('.')[2])) fail('the access token is in the browser\'s storage');

  step('another patient\'s page is refused, visibly; the patient\'s own page works');
  await page.goto(`${ward}/patients/${other}`);
  await until('"Refused" on another patient\'s page', 30, async () =>
    (await page.locator('#message').isVisible()) && (await page.locator('#message').textContent()).startsWith('Refused'));
  if (new URL(page.url()).pathname !== `/patients/${other}`) fail(`the login came back to the page asked for: ${page.url()}`);
  await until('the stream is refused too', 10, async () => (await page.locator('#connection').textContent()) === 'refused');
  await page.screenshot({ path: path.join(artifacts, 'oidc-patient-refused.png') });
  await page.goto(`${ward}/patients/${own}`);
  await until('the patient\'s own charts and readings', 30, async () =>
    (await page.locator('#rows tr').count()) > 0 && !(await page.locator('#message').isVisible()));

  step('signing out ends the provider\'s session: the ward asks for a login again');
  await page.click('#sign-out');
  await page.locator('button[name="logout"][value="yes"]').click({ timeout: 15000 });
  await until('the ward asks for a new login', 20, () => page.locator('input[name="login"]').isVisible());

  step('the clinician signs in and sees the whole ward, live through the stream');
  await signIn('dr-clin', 'clin-secret');
  await until(`${patients} tiles with values`, 60, async () => {
    if ((await tiles.count()) !== patients) return false;
    const values = await page.locator('[data-patient] dd[data-vital="pulse"] .value').allTextContents();
    return values.every((v) => /^\d+$/.test(v));
  });
  if (!(await page.locator('#whoami').textContent()).includes('Dr Clin Ician')) fail('the clinician is shown as signed in');
  await page.evaluate(() => { window.__sameDocument = true; });
  const stamps = async () => (await tiles.evaluateAll((els) => els.map((e) => e.dataset.timestamp))).join();
  const earlier = await stamps();
  await until('every tile can change without a reload', 3 * interval + 5, async () => (await stamps()) !== earlier);
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the ward page reloaded to show new readings');
  await page.screenshot({ path: path.join(artifacts, 'oidc-clinician-ward.png') });

  step(`an expired token (${tokenSeconds} s) means a new login, quietly while the provider's session lasts`);
  const logins = tokenRequests.length;
  await until('a new token after the old one expired', tokenSeconds + 30, async () => tokenRequests.length > logins);
  await until(`${patients} tiles again, with the new token`, 60, async () =>
    (await tiles.count()) === patients && (await page.locator('#whoami').isVisible()));

  step('a 401 from the API means a new login; a 401 to a brand-new token is shown, not looped');
  // The API's 401s are made by Playwright's request interception: the
  // service itself would need a revoked token or rotated keys to say it.
  const refusal = (detail) => (route) => route.fulfill({
    status: 401, contentType: 'application/problem+json',
    headers: { 'www-authenticate': 'Bearer realm="icu-monitor", error="invalid_token"' },
    body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, detail }),
  });
  await page.goto(`${ward}/patients/${other}`);
  await until('the clinician sees another patient\'s charts', 30, async () => (await page.locator('#rows tr').count()) > 0);
  await sleep(11_000); // the token is no longer brand new (10 s), and still well before it expires
  const beforeRefusal = tokenRequests.length;
  await page.route(`${ward}/api/v1/patients/${other}/metrics*`, refusal('the bearer token was refused: revoked'), { times: 1 });
  await page.locator('[data-window="900"]').click();
  await until('a new login after the 401', 20, async () => tokenRequests.length > beforeRefusal);
  await until('the patient page back, with a new token', 30, async () =>
    new URL(page.url()).pathname === `/patients/${other}` && (await page.locator('#rows tr').count()) > 0);
  await page.route(`${ward}/api/v1/patients/${other}`, refusal('the bearer token was refused: wrong audience'));
  await page.goto(`${ward}/patients/${other}`);
  await until('the refusal of a brand-new token is shown', 30, async () =>
    (await page.locator('#login').isVisible()) && (await page.locator('#login-text').textContent()).includes('has just issued'));
  const afterRefusal = tokenRequests.length;
  await sleep(5000);
  if (tokenRequests.length !== afterRefusal) fail('the page loops through the provider when the API refuses a new token');
  await page.unroute(`${ward}/api/v1/patients/${other}`);

  if (errors.length) fail(`errors in the pages: ${errors.join('; ')}`);
});
