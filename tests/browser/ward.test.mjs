// The ward pages in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), against a running ward: `icu demo` with the
// real services, a fresh database and METRICS_INTERVAL=1.
//
// Env: ICU_BIN (the icu binary), DATABASE_URL (a fresh database),
// ARTIFACTS (directory for screenshots), PATIENTS (default 6),
// UPDATE_SCREENSHOT=1 also writes docs/ward.png.
import { mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fail, need, step, until, json, runTest, startDemo, launchBrowser } from './harness.mjs';

const stage = 'scripts/stages/60-browser.sh';
const icu = need('ICU_BIN', stage);
const databaseUrl = need('DATABASE_URL', stage);
const artifacts = need('ARTIFACTS', stage);
const patients = Number(process.env.PATIENTS || 6);
const interval = 1; // seconds
mkdirSync(artifacts, { recursive: true });

const demo = await startDemo({ icu, databaseUrl, patients, interval, artifacts });
const { ward, emulator } = demo;
let browser;
const stopAll = async () => { if (browser) await browser.close().catch(() => {}); demo.stop(); };

await runTest({ demo, stop: stopAll, artifacts }, async () => {
  await until('every patient has a reading in the API', 90, async () => {
    const body = await json(`${ward}/api/v1/patients`);
    return body.patients.length === patients && body.patients.every((p) => p.latest);
  });

  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  step('the ward page: one tile per patient, with values');
  await page.goto(`${ward}/`);
  await page.evaluate(() => { window.__sameDocument = true; });
  const tiles = page.locator('[data-patient]');
  await until(`${patients} tiles with five values each`, 20, async () => {
    if (await tiles.count() !== patients) return false;
    const values = await page.locator('[data-patient] dd .value').allTextContents();
    return values.length === patients * 5 && values.every((v) => /^\d+(\.\d)?(\/\d+)?$/.test(v));
  });
  const first = tiles.first();
  const uuid = await first.getAttribute('data-patient');
  for (const text of ['/min', 'mmHg', '%', '°C']) {
    if (!(await first.textContent()).includes(text)) fail(`a tile shows its units: ${text} missing`);
  }
  const band = await first.locator('.news2-badge .band').textContent();
  if (!['Low', 'Low-medium', 'Medium', 'High'].includes(band)) fail(`NEWS2 band as text: ${band}`);

  step('values change without a reload, within two intervals');
  const stamp = async () => (await first.locator('.vitals').textContent()) + (await first.getAttribute('data-timestamp'));
  const before = await stamp();
  await until('a tile changes', 2 * interval + 1, async () => (await stamp()) !== before);
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the page was reloaded');

  step('a patient made ill through the emulator shows the medium or high band');
  const sick = await tiles.nth(1).getAttribute('data-patient');
  const put = (url, body) => json(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await put(`${emulator}/patients/${sick}/condition`, { condition: 'hypoxia' });
  await until('the sick patient\'s tile shows medium or high', 120, async () => {
    const tile = page.locator(`[data-patient="${sick}"]`);
    const [bandAttr, text] = [await tile.getAttribute('data-band'), await tile.locator('.news2-badge .band').textContent()];
    return ['medium', 'high'].includes(bandAttr) && ['Medium', 'High'].includes(text);
  });

  step('a stopped monitor shows "no signal"');
  const quiet = await tiles.nth(2).getAttribute('data-patient');
  await put(`${emulator}/patients/${quiet}/monitor`, { running: false });
  const quietTile = page.locator(`[data-patient="${quiet}"]`);
  await until('"no signal" on the stopped patient\'s tile', 30, async () =>
    (await quietTile.getAttribute('class')).includes('no-signal') && (await quietTile.locator('.signal').isVisible()));
  const others = await page.locator('[data-patient].no-signal').count();
  if (others !== 1) fail(`only the stopped monitor is silent, but ${others} tiles say "no signal"`);

  step('ordering by NEWS2 puts the silent and the sick first, by keyboard');
  await page.locator('#order').focus();
  await page.keyboard.press('Enter');
  await until('NEWS2 order', 5, async () => (await page.locator('#order').getAttribute('aria-pressed')) === 'true');
  const order = await page.locator('[data-patient]').evaluateAll((els) => els.map((e) => e.dataset.patient));
  if (order[0] !== quiet) fail(`a silent monitor comes first in NEWS2 order: ${order}`);
  if (order[1] !== sick && !(await page.locator(`[data-patient="${order[1]}"]`).getAttribute('data-band')).match(/medium|high/)) {
    fail('the worst NEWS2 comes next');
  }
  await page.screenshot({ path: path.join(artifacts, 'ward.png') });
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(path.join(artifacts, 'ward.png'), 'docs/ward.png');

  step('the patient page draws its charts and table, live');
  await page.goto(`${ward}/patients/${sick}`);
  await until('six charts with points, and readings in the table', 20, async () => {
    const points = await page.locator('.chart').evaluateAll((els) => els.map((e) => Number(e.dataset.points || 0)));
    const canvases = await page.locator('.chart canvas').count();
    return points.length === 6 && points.every((n) => n > 0) && canvases >= 6 && (await page.locator('#rows tr').count()) > 0;
  });
  const rows = await page.locator('#rows tr').count();
  await until('a new reading arrives on the patient page', 3 * interval + 2, async () => (await page.locator('#rows tr').count()) > rows);
  await page.locator('[data-window="900"]').click();
  await until('the 15 min window is chosen', 5, async () => (await page.locator('[data-window="900"]').getAttribute('aria-pressed')) === 'true');
  await page.screenshot({ path: path.join(artifacts, 'patient.png'), fullPage: true });

  if (errors.length) fail(`errors in the pages: ${errors.join('; ')}`);
});
