'use strict';
// Shared by the ward and patient pages: the API, the live stream, formats.
// The pages use only the REST routes and the stream.
const Screen = (() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const prefix = meta('icu-api-prefix');
  const staleAfterMs = Number(meta('icu-stale-after-ms')) || 15000;
  const patientPage = meta('icu-patient-page');

  // Headers for every request and the stream: the bearer token of the
  // login (auth.js) when the API wants one. The stream is read with fetch,
  // not EventSource, so that it can send them too.
  let headers = Auth.headers;

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  // A failed response as an ApiError (its problem+json detail when it has
  // one); a 401 first sends the page to log in again.
  async function failure(response) {
    let detail = `HTTP ${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not a problem body */ }
    if (response.status === 401 && Auth.enabled) await Auth.rejected(detail);
    return new ApiError(response.status, detail);
  }

  async function api(path) {
    const response = await fetch(prefix + path, { headers: await headers(), cache: 'no-store' });
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Server-Sent Events over fetch: reconnects by itself with Last-Event-ID,
  // so a short interruption loses nothing; `resync` asks the page to reload.
  // handlers: { reading(data), admission(data), resync(data), status(text) }.
  function stream(query, handlers) {
    let lastId = null;
    let stopped = false;
    let controller = null;
    let retryMs = 1000;
    const status = (s) => handlers.status && handlers.status(s);

    function dispatch(frame) {
      let id = null, event = 'message', data = '';
      for (const line of frame.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data += (data ? '\n' : '') + value;
        else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
      }
      if (id !== null) lastId = id;
      if (!data) return;
      const handler = handlers[event];
      if (handler) handler(JSON.parse(data));
    }

    async function run() {
      while (!stopped) {
        controller = new AbortController();
        try {
          const h = Object.assign({ Accept: 'text/event-stream' }, await headers());
          if (lastId) h['Last-Event-ID'] = lastId;
          const response = await fetch(`${prefix}/stream${query}`, { headers: h, signal: controller.signal, cache: 'no-store' });
          if (!response.ok) throw await failure(response);
          status('live');
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replace(/\r\n?/g, '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              dispatch(frame);
            }
          }
        } catch (e) {
          if (stopped) return;
          if (e instanceof ApiError && e.status === 404) { status('no such patient'); return; }
          if (e instanceof ApiError && e.status === 403) { status('refused'); return; }
          if (e instanceof Auth.LoginError) { status('signed out'); return; }
          if (e instanceof ApiError && e.status === 400) lastId = null; // an id it no longer takes: start afresh
        }
        if (stopped) return;
        status('reconnecting');
        await sleep(retryMs);
      }
    }
    run();
    return { close() { stopped = true; if (controller) controller.abort(); } };
  }

  const bandText = { low: 'Low', 'low-medium': 'Low-medium', medium: 'Medium', high: 'High' };

  function ago(ms) {
    if (!(ms >= 0)) return '';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s ago`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.floor(m / 60);
    return h < 48 ? `${h} h ${m % 60} min ago` : `${Math.floor(h / 24)} days ago`;
  }

  function setConnection(el, state) {
    el.dataset.state = state;
    el.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : state;
  }

  // The views (ward.js, patient.js) register here, with the scripts only
  // they need (the chart library: the ward page does without); the path
  // picks one once the login (if any) is done.
  const views = {};

  const load = (src) => new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} did not load`));
    document.head.append(script);
  });
  const loginBox = document.getElementById('login');

  // Shown above everything when the page cannot start.
  function stopped(text, offerLogin) {
    document.getElementById('login-text').textContent = text;
    document.getElementById('login-again').hidden = !offerLogin;
    loginBox.hidden = false;
  }
  const loginFailed = (error) => stopped(`Not signed in: ${error.message}`, Auth.enabled);

  // Who is signed in, and the way out, in the view's header bar.
  function account(bar) {
    const box = document.createElement('span');
    box.className = 'account';
    const who = document.createElement('span');
    who.id = 'whoami';
    who.textContent = `Signed in as ${Auth.user()}`;
    const out = document.createElement('button');
    out.id = 'sign-out';
    out.type = 'button';
    out.textContent = 'Sign out';
    out.addEventListener('click', () => Auth.signOut());
    box.append(who, out);
    bar.append(box);
  }

  async function boot() {
    Auth.onFailure(loginFailed);
    document.getElementById('login-again').addEventListener('click', () => { loginBox.hidden = true; Auth.login(); });
    try {
      await Auth.ready();
    } catch (e) {
      loginFailed(e);
      return;
    }
    const name = location.pathname.startsWith(patientPage) ? 'patient' : 'ward';
    document.body.classList.add(`${name}-page`);
    document.body.append(document.getElementById(`view-${name}`).content.cloneNode(true));
    if (Auth.enabled) account(document.querySelector('.bar'));
    try {
      for (const src of views[name].scripts) await load(src);
    } catch (e) {
      stopped(`The page cannot start: ${e.message}`, false);
      return;
    }
    views[name].start();
  }
  document.addEventListener('DOMContentLoaded', boot);

  return {
    prefix, staleAfterMs, patientPage, api, stream, ApiError, bandText, ago, setConnection,
    setHeaders(fn) { headers = fn; },
    view(name, start, scripts = []) { views[name] = { start, scripts }; },
  };
})();
