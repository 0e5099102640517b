// What the browser tests share: failing loudly, waiting for a condition,
// free ports, `icu demo` as a child process, and Debian's Chromium.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

export function fail(message) { console.error(`FAIL: ${message}`); process.exit(1); }
export const step = (text) => console.error(`--- ${text}`);
export const need = (name, stage) => process.env[name] || fail(`${name} is not set (run ${stage})`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const freePort = () => new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
});

// Polls `check` until it returns something truthy; fails after `seconds`.
export async function until(what, seconds, check) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch (_) { /* not yet */ }
    if (Date.now() > deadline) fail(`${what}: not within ${seconds} s`);
    await sleep(250);
  }
}

export const json = async (url, options) => {
  const r = await fetch(url, options);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
};

// `icu demo` (the real services in one process) on free ports; its log goes
// to ARTIFACTS/<log>. `stop()` ends it with SIGINT, as Ctrl-C would.
export async function startDemo({ icu, databaseUrl, patients, interval, artifacts, log = 'icu-demo.log', args = [], env = {}, apiPort }) {
  apiPort ??= await freePort();
  const [emulatorPort, dataPort] = [await freePort(), await freePort()];
  const ward = `http://127.0.0.1:${apiPort}`;
  const emulator = `http://127.0.0.1:${emulatorPort}/api/v1`;
  const out = createWriteStream(path.join(artifacts, log));
  step(`icu demo: ${patients} patients at ${interval} s, ward on ${ward}`);
  const child = spawn(icu, ['demo', '--patients', String(patients), '--api-port', String(apiPort),
    '--patient-port', String(emulatorPort), '--data-port', String(dataPort), ...args], {
    env: { ...process.env, DATABASE_URL: databaseUrl, METRICS_INTERVAL: String(interval), LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out); child.stderr.pipe(out);
  const demo = { ward, emulator, exited: false };
  child.on('exit', (code) => { demo.exited = true; if (code) console.error(`icu demo exited with ${code}`); });
  process.on('exit', () => { if (!demo.exited) child.kill('SIGKILL'); });
  demo.stop = () => { if (!demo.exited) child.kill('SIGINT'); };
  return demo;
}

export const launchBrowser = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});

// Runs a test's steps; on any failure stops everything and exits 1; at the
// end stops the browser and the demo and waits for the demo to end cleanly.
export async function runTest({ demo, stop, artifacts }, steps) {
  try {
    await steps();
    console.error(`ok: screenshots in ${artifacts}`);
  } catch (e) {
    console.error(e);
    await stop();
    process.exit(1);
  }
  await stop();
  await until('icu demo stops', 30, async () => demo.exited);
}
