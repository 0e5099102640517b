'use strict';
// One patient: every vital over a chosen window (15 min / 1 h / 6 h) as
// charts with the NEWS2 thresholds drawn behind them, the readings table
// underneath, live from the stream.
Screen.view('patient', () => {
  const uuid = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop());
  const TABLE_ROWS = 500;
  const PAGES = 30; // ×1,000 readings: 6 h at one reading a second fits
  const CHARTS = [
    { key: 'pulse', title: 'Pulse', unit: '/min', bands: 'pulse', min: 30, max: 160, series: [['Pulse', (r) => r.pulse, '#79c0ff']] },
    { key: 'resp_rate', title: 'Respiratory rate', unit: '/min', bands: 'resp_rate', min: 5, max: 35, series: [['Resp', (r) => r.resp_rate, '#a5d6ff']] },
    { key: 'bp', title: 'Blood pressure', unit: 'mmHg', bands: 'bp_systolic', min: 40, max: 200,
      series: [['Systolic', (r) => r.bp_systolic, '#ffa198'], ['Diastolic', (r) => r.bp_diastolic, '#d2a8ff']] },
    { key: 'spo2', title: 'SpO₂', unit: '%', bands: 'spo2', min: 85, max: 100, series: [['SpO₂', (r) => r.spo2, '#7ee787']] },
    { key: 'temperature', title: 'Temperature', unit: '°C', bands: 'temperature', min: 35, max: 40, series: [['Temp', (r) => r.temperature, '#ffd33d']] },
    { key: 'news2', title: 'NEWS2', unit: '', bands: 'news2', min: 0, max: 10, series: [['NEWS2', (r) => r.news2.score, '#f0f6fc']] },
  ];
  const BAND_FILL = { 1: 'rgba(227,179,65,0.10)', 2: 'rgba(240,136,62,0.14)', 3: 'rgba(198,40,40,0.20)' };
  const $ = (id) => document.getElementById(id);
  const connection = $('connection'), message = $('message');
  let windowSeconds = 3600;
  let readings = []; // ascending by time, each once
  let patient = null;
  let bands = {};
  const charts = [];

  function fail(text) { message.textContent = text; message.hidden = false; }

  function drawBands(u, list) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    for (const b of list || []) {
      if (!b.score) continue;
      const y0 = Math.max(u.valToPos(b.upper, 'y', true), top);
      const y1 = Math.min(u.valToPos(b.lower, 'y', true), top + height);
      if (y1 <= y0) continue;
      ctx.fillStyle = BAND_FILL[b.score];
      ctx.fillRect(left, y0, width, y1 - y0);
    }
    ctx.restore();
  }

  function makeCharts() {
    const holder = $('charts');
    for (const spec of CHARTS) {
      const box = document.createElement('figure');
      box.className = 'chart';
      box.dataset.chart = spec.key;
      box.innerHTML = `<h2>${spec.title}${spec.unit ? ' (' + spec.unit + ')' : ''}<span class="latest"></span></h2>`;
      holder.appendChild(box);
      const axis = { stroke: '#b1bac4', grid: { stroke: '#30363d', width: 1 }, ticks: { stroke: '#30363d', width: 1 } };
      const options = {
        width: Math.max(300, box.clientWidth - 16),
        height: 190,
        scales: {
          x: { time: true, range: () => { const now = Date.now() / 1000; return [now - windowSeconds, now]; } },
          y: { range: (u, min, max) => [Math.min(min ?? spec.min, spec.min), Math.max(max ?? spec.max, spec.max)] },
        },
        axes: [axis, Object.assign({ size: 48 }, axis)],
        series: [{}, ...spec.series.map(([label, , stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
        hooks: { drawClear: [(u) => drawBands(u, bands[spec.bands])] },
      };
      const chart = new uPlot(options, [[], ...spec.series.map(() => [])], box);
      charts.push({ spec, chart, box });
    }
    window.addEventListener('resize', () => {
      for (const c of charts) c.chart.setSize({ width: Math.max(300, c.box.clientWidth - 16), height: 190 });
    });
  }

  let drawing = null;
  function redraw() {
    if (drawing) return;
    drawing = setTimeout(() => {
      drawing = null;
      const from = Date.now() - windowSeconds * 1000;
      readings = readings.filter((r) => Date.parse(r.timestamp) >= from);
      const xs = readings.map((r) => Date.parse(r.timestamp) / 1000);
      for (const { spec, chart, box } of charts) {
        chart.setData([xs, ...spec.series.map(([, value]) => readings.map(value))]);
        box.dataset.points = String(xs.length);
        const last = readings[readings.length - 1];
        box.querySelector('.latest').textContent = last ? spec.series.map(([, value]) => value(last)).join('/') : '';
      }
      table();
      header();
    }, 100);
  }

  function table() {
    const rows = readings.slice(-TABLE_ROWS).reverse().map((r) => {
      const time = new Date(r.timestamp).toLocaleTimeString();
      return `<tr><td>${time}</td><td>${r.pulse}</td><td>${r.resp_rate}</td><td>${r.bp}</td><td>${r.spo2}</td>` +
        `<td>${r.temperature.toFixed(1)}</td><td>${r.on_oxygen ? 'yes' : 'no'}</td><td>${r.acvpu ?? 'A'}</td>` +
        `<td><span class="news2-badge" data-band="${r.news2.band}">${r.news2.score} ${Screen.bandText[r.news2.band]}</span></td></tr>`;
    });
    $('rows').innerHTML = rows.join('');
    $('count').textContent = `(${readings.length} in the window${readings.length > TABLE_ROWS ? `, newest ${TABLE_ROWS} shown` : ''})`;
  }

  function header() {
    if (!patient) return;
    const last = readings[readings.length - 1] || patient.latest;
    const badge = $('news2');
    if (last) {
      badge.dataset.band = last.news2.band;
      badge.innerHTML = `<span class="score">${last.news2.score}</span><span class="band">${Screen.bandText[last.news2.band]}</span>`;
    }
    const age = last ? Date.now() - Date.parse(last.timestamp) : Infinity;
    $('age').textContent = (age > Screen.staleAfterMs ? 'NO SIGNAL · ' : '') + (last ? 'last reading ' + Screen.ago(age) : 'no reading yet');
  }

  function add(list) {
    const seen = new Set(readings.map((r) => r.timestamp));
    let added = false;
    for (const r of list) if (!seen.has(r.timestamp)) { readings.push(r); seen.add(r.timestamp); added = true; }
    if (added) readings.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    redraw();
  }

  async function load() {
    try {
      patient = await Screen.api(`/patients/${uuid}`);
      const title = `${patient.bed ? 'Bed ' + patient.bed + ' · ' : ''}${patient.name}`;
      $('title').textContent = title;
      document.title = `${title} · icu-monitor`;
      const from = new Date(Date.now() - windowSeconds * 1000).toISOString();
      const loaded = [];
      let cursor = null;
      for (let page = 0; page < PAGES; page++) {
        const query = `from=${encodeURIComponent(from)}&limit=1000${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`;
        const body = await Screen.api(`/patients/${uuid}/metrics?${query}`);
        loaded.push(...body.readings);
        if (!(cursor = body.next_cursor)) break;
      }
      readings = [];
      add(loaded);
      message.hidden = true;
    } catch (e) {
      if (e.status === 404 || e.status === 400) fail(`No such patient on this ward (${uuid}).`);
      else if (e.status === 403) {
        fail(`Refused: ${e.message}.`);
        for (const part of document.querySelectorAll('#charts, .readings, .windows')) part.hidden = true;
      }
      else if (e instanceof Auth.LoginError) fail(`Not signed in: ${e.message}.`);
      else { fail(`The patient could not be loaded: ${e.message}. Retrying…`); setTimeout(load, 3000); }
    }
  }

  for (const button of document.querySelectorAll('[data-window]')) {
    button.addEventListener('click', () => {
      windowSeconds = Number(button.dataset.window);
      for (const b of document.querySelectorAll('[data-window]')) b.setAttribute('aria-pressed', String(b === button));
      load();
    });
  }

  fetch('/assets/news2-bands.json').then((r) => r.json()).then((b) => { bands = b; for (const c of charts) c.chart.redraw(); });
  makeCharts();
  Screen.stream(`?patient=${encodeURIComponent(uuid)}`, {
    status: (s) => Screen.setConnection(connection, s),
    reading(event) { add([event.reading]); },
    admission(a) { if (patient) { Object.assign(patient, a); header(); } },
    resync() { load(); },
  });
  load();
  setInterval(header, 1000);
  setInterval(redraw, 5000); // the window slides even when nothing arrives
}, ['/assets/uPlot.iife.min.js']);
