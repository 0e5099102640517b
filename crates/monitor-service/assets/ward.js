'use strict';
// The ward: one tile per bed, live from the stream. Each tile shows the
// five vitals with units and a short trend, NEWS2 (colour and text), the
// time since the last reading, and "no signal" once the monitor is silent
// for three intervals.
Screen.view('ward', () => {
  const TREND = 30; // readings per trend line
  const VITALS = [
    { key: 'pulse', label: 'Pulse', unit: '/min', value: (r) => r.pulse },
    { key: 'resp_rate', label: 'Resp', unit: '/min', value: (r) => r.resp_rate },
    { key: 'bp', label: 'BP', unit: 'mmHg', value: (r) => r.bp_systolic, text: (r) => r.bp },
    { key: 'spo2', label: 'SpO₂', unit: '%', value: (r) => r.spo2 },
    { key: 'temperature', label: 'Temp', unit: '°C', value: (r) => r.temperature, text: (r) => r.temperature.toFixed(1) },
  ];
  const tilesEl = document.getElementById('tiles');
  const orderButton = document.getElementById('order');
  const connection = document.getElementById('connection');
  const summary = document.getElementById('summary');
  const message = document.getElementById('message');
  const patients = new Map(); // uuid → { uuid, name, bed, latest, history, el }
  let byNews2 = new URLSearchParams(location.search).get('order') === 'news2';

  const bedCompare = (a, b) =>
    (a.bed ?? '\uffff').localeCompare(b.bed ?? '\uffff', undefined, { numeric: true }) || a.name.localeCompare(b.name);
  const silent = (p) => !p.latest || Date.now() - Date.parse(p.latest.timestamp) > Screen.staleAfterMs;

  function tile(p) {
    const el = document.createElement('a');
    el.className = 'tile';
    el.dataset.patient = p.uuid;
    el.href = Screen.patientPage + p.uuid;
    el.innerHTML = `
      <div class="tile-head"><span class="bed"></span><span class="name"></span></div>
      <div><span class="news2-badge"><span class="score">–</span><span class="band">no reading</span></span></div>
      <dl class="vitals">${VITALS.map((v) => `
        <dt data-vital="${v.key}">${v.label}</dt>
        <dd data-vital="${v.key}"><span class="value">–</span><span class="unit">${v.unit}</span></dd>
        <svg class="trend" data-vital="${v.key}" viewBox="0 0 100 20" preserveAspectRatio="none" aria-hidden="true"><polyline points=""/></svg>`).join('')}
      </dl>
      <div class="foot"><span class="signal">NO SIGNAL</span><span class="age"></span></div>`;
    return el;
  }

  function render(p) {
    const el = p.el;
    el.querySelector('.bed').textContent = p.bed ? `Bed ${p.bed}` : 'No bed';
    el.querySelector('.name').textContent = p.name;
    const r = p.latest;
    if (r) {
      el.dataset.band = r.news2.band;
      el.dataset.timestamp = r.timestamp;
      el.querySelector('.news2-badge .score').textContent = r.news2.score;
      el.querySelector('.news2-badge .band').textContent = Screen.bandText[r.news2.band] || r.news2.band;
      for (const v of VITALS) {
        el.querySelector(`dd[data-vital="${v.key}"] .value`).textContent = v.text ? v.text(r) : v.value(r);
        el.querySelector(`svg[data-vital="${v.key}"] polyline`).setAttribute('points', trend(p.history.map(v.value)));
      }
    }
    age(p);
  }

  function trend(values) {
    if (values.length < 2) return '';
    const min = Math.min(...values), max = Math.max(...values);
    const span = max - min || 1;
    return values.map((v, i) => `${(i * 100 / (values.length - 1)).toFixed(1)},${(18 - (v - min) * 16 / span + 1).toFixed(1)}`).join(' ');
  }

  function age(p) {
    const quiet = silent(p);
    p.el.classList.toggle('no-signal', quiet);
    const text = p.latest ? Screen.ago(Date.now() - Date.parse(p.latest.timestamp)) : 'no reading yet';
    p.el.querySelector('.age').textContent = text;
    p.el.setAttribute('aria-label', `${p.bed ? 'Bed ' + p.bed : 'No bed'}, ${p.name}, ` +
      (p.latest ? `NEWS2 ${p.latest.news2.score} ${Screen.bandText[p.latest.news2.band]}, last reading ${text}` : 'no reading yet') +
      (quiet ? ', NO SIGNAL' : ''));
  }

  function order() {
    const list = [...patients.values()];
    if (byNews2) {
      // Worst first: a silent monitor is itself an alarm, then the highest score.
      list.sort((a, b) => (silent(b) - silent(a)) || ((b.latest?.news2.score ?? -1) - (a.latest?.news2.score ?? -1)) || bedCompare(a, b));
    } else {
      list.sort(bedCompare);
    }
    list.forEach((p, i) => { if (tilesEl.children[i] !== p.el) tilesEl.insertBefore(p.el, tilesEl.children[i] || null); });
    orderButton.setAttribute('aria-pressed', String(byNews2));
    orderButton.textContent = byNews2 ? 'Order: NEWS2, worst first' : 'Order: bed';
    const counts = { high: 0, medium: 0 };
    let quiet = 0;
    for (const p of list) { if (silent(p)) quiet++; else if (p.latest) counts[p.latest.news2.band] = (counts[p.latest.news2.band] || 0) + 1; }
    summary.textContent = `${list.length} beds · ${counts.high} high · ${counts.medium} medium · ${quiet} no signal`;
  }

  function admit(a) {
    let p = patients.get(a.uuid);
    if (!p) {
      p = { uuid: a.uuid, latest: null, history: [] };
      p.el = tile(p);
      patients.set(a.uuid, p);
    }
    Object.assign(p, { name: a.name, bed: a.bed });
    if (a.latest) remember(p, [a.latest]);
    return p;
  }

  // Keeps the newest TREND readings, in time order, each once.
  function remember(p, readings) {
    const seen = new Set(p.history.map((r) => r.timestamp));
    for (const r of readings) if (!seen.has(r.timestamp)) { p.history.push(r); seen.add(r.timestamp); }
    p.history.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    if (p.history.length > TREND) p.history.splice(0, p.history.length - TREND);
    const newest = p.history[p.history.length - 1];
    if (newest && (!p.latest || Date.parse(newest.timestamp) >= Date.parse(p.latest.timestamp))) p.latest = newest;
  }

  async function load() {
    try {
      const { patients: list } = await Screen.api('/patients');
      message.hidden = true;
      for (const a of list) render(admit(a));
      order();
      // Trend lines: a few requests at a time.
      const queue = [...list];
      const worker = async () => {
        for (let a; (a = queue.shift());) {
          try {
            const page = await Screen.api(`/patients/${a.uuid}/metrics?limit=${TREND}`);
            const p = patients.get(a.uuid);
            remember(p, page.readings);
            render(p);
          } catch (_) { /* the stream fills it in */ }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    } catch (e) {
      message.hidden = false;
      if (e.status === 403 || e instanceof Auth.LoginError) {
        message.textContent = `Refused: ${e.message}.`;
        return;
      }
      message.textContent = `The ward could not be loaded: ${e.message}. Retrying…`;
      setTimeout(load, 3000);
    }
  }

  let reorder = null;
  const soon = () => { if (!reorder) reorder = setTimeout(() => { reorder = null; order(); }, 250); };

  Screen.stream('', {
    status: (s) => Screen.setConnection(connection, s),
    reading(event) {
      let p = patients.get(event.patient);
      if (!p) { load(); return; } // a patient this page has not seen: reload the ward
      remember(p, [event.reading]);
      render(p);
      if (byNews2) soon();
    },
    admission(a) { render(admit(a)); soon(); },
    resync() { load(); },
  });
  load();

  orderButton.addEventListener('click', () => {
    byNews2 = !byNews2;
    const url = new URL(location.href);
    if (byNews2) url.searchParams.set('order', 'news2'); else url.searchParams.delete('order');
    history.replaceState(null, '', url);
    order();
  });
  setInterval(() => { for (const p of patients.values()) age(p); order(); }, 1000);
});
