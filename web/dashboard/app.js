// Doppel dashboard: plain JavaScript against the REST API (/api/v1, schemas/openapi.yaml).
// No build step and no third-party code. Every value from the server is written with
// textContent (never innerHTML), so twin ids and strings cannot inject markup.
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'doppel.token';
  const HISTORY_WINDOW_S = 3600; // the sparkline's span
  const HISTORY_POINTS = 60; // ... in this many steps
  const SPARK_W = 120;
  const SPARK_H = 28;
  const ROW_VALUES = 2; // telemetry values shown in a tree row

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const svg = (tag, attrs = {}) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };

  // ---- state -----------------------------------------------------------------------------
  const state = {
    token: '',
    twins: new Map(), // id -> {id, model, stale, values: Map(path -> value), sync: Map(path -> status)}
    out: new Map(), // id -> [{name, target}]
    models: new Map(), // dtmi -> model JSON (GET /models/{id}) or a Promise of it
    slots: new Map(), // dtmi -> {telemetry, properties, commands} with slot paths
    selected: '',
    detail: null, // the selected twin as GET /twins/{id} returns it, plus its ETag
    sparks: new Map(), // path -> [numbers] of the selected twin
    alertsAvailable: null, // null: not asked yet; false: the API has no alert routes
    filter: '',
    staleOnly: false,
    dirty: new Set(), // twin ids whose tree row needs repainting
    rows: new Map(), // twin id -> its rows in the tree (a twin related twice appears twice)
  };

  // ---- HTTP ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, {method = 'GET', body, headers = {}, signal} = {}) {
    const h = {Accept: 'application/json', Authorization: `Bearer ${state.token}`, ...headers};
    if (body !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
    const res = await fetch(API + path, {
      method, headers: h, signal, cache: 'no-store',
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    });
    if (res.status === 401) {
      askToken('The token was refused (401). Enter a valid one.');
      throw new ApiError(401, null);
    }
    const text = await res.text();
    let json = null;
    if (text) { try { json = JSON.parse(text); } catch (_) { json = null; } }
    if (!res.ok) throw new ApiError(res.status, json);
    return {json, etag: res.headers.get('ETag'), status: res.status};
  }
  const enc = encodeURIComponent;

  function showError(message) {
    const e = $('error');
    e.textContent = message;
    e.hidden = !message;
  }

  // ---- token -----------------------------------------------------------------------------
  function takeTokenFromUrl() {
    // #token=...&twin=motor-1: the token leaves the address bar at once.
    const params = new URLSearchParams(location.hash.slice(1));
    const t = params.get('token');
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    }
    if (params.get('twin')) state.selected = params.get('twin');
  }

  function askToken(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    stopEvents();
    $('sign-out').hidden = true;
    if (reason) $('token-reason').textContent = reason;
    const d = $('token-dialog');
    if (!d.open) d.showModal();
  }

  // ---- models ----------------------------------------------------------------------------
  function model(id) {
    if (!state.models.has(id)) {
      const p = api(`/models/${enc(id)}`).then((r) => {
        state.models.set(id, r.json);
        return r.json;
      });
      p.catch(() => state.models.delete(id));
      state.models.set(id, p);
    }
    return Promise.resolve(state.models.get(id));
  }
  const loadedModel = (id) => {
    const m = state.models.get(id);
    return m && !(m instanceof Promise) ? m : null;
  };

  // Telemetry and properties of a model with their slot paths ("bearing/temperature").
  async function slotsOf(modelId) {
    const m = await model(modelId);
    const out = {telemetry: [], properties: [], commands: []};
    for (const c of m.contents || []) {
      if (c.kind === 'Telemetry') out.telemetry.push({path: c.name, content: c});
      else if (c.kind === 'Property') out.properties.push({path: c.name, content: c});
      else if (c.kind === 'Command') out.commands.push({component: '', content: c});
      else if (c.kind === 'Component' && c.schema) {
        const sub = await model(c.schema);
        for (const s of sub.contents || []) {
          const path = `${c.name}/${s.name}`;
          if (s.kind === 'Telemetry') out.telemetry.push({path, content: s});
          else if (s.kind === 'Property') out.properties.push({path, content: s});
          else if (s.kind === 'Command') out.commands.push({component: c.name, content: s});
        }
      }
    }
    return out;
  }

  // DTDL unit names as the API gives them -> the symbols people read.
  const UNIT_SYMBOLS = {
    degreeCelsius: '°C', degreeFahrenheit: '°F', kelvin: 'K', percent: '%', gForce: 'g',
    ampere: 'A', milliampere: 'mA', volt: 'V', millivolt: 'mV', kilovolt: 'kV', watt: 'W',
    kilowatt: 'kW', megawatt: 'MW', kilowattHour: 'kWh', megawattHour: 'MWh', hertz: 'Hz',
    kilohertz: 'kHz', revolutionPerMinute: 'rpm', revolutionPerSecond: 'rps', pascal: 'Pa',
    kilopascal: 'kPa', bar: 'bar', millibar: 'mbar', metre: 'm', millimetre: 'mm',
    centimetre: 'cm', kilometre: 'km', metrePerSecond: 'm/s', kilometrePerHour: 'km/h',
    metrePerSecondSquared: 'm/s²', second: 's', millisecond: 'ms', minute: 'min', hour: 'h',
    kilogram: 'kg', gram: 'g', tonne: 't', litre: 'L', litrePerSecond: 'L/s',
    cubicMetrePerHour: 'm³/h', newton: 'N', newtonMetre: 'N·m', degreeOfArc: '°', radian: 'rad',
    lux: 'lx', decibel: 'dB', voltAmpere: 'VA', kilovoltAmpere: 'kVA',
  };
  const unitSymbol = (u) => (u ? UNIT_SYMBOLS[u] || u : '');

  function unitOf(modelId, path) {
    const m = loadedModel(modelId);
    if (!m) return '';
    const [first, second] = path.split('/');
    const c = (m.contents || []).find((x) => x.name === first);
    if (!c) return '';
    if (!second) return unitSymbol(c.unit);
    const sub = c.kind === 'Component' ? loadedModel(c.schema) : null;
    const s = sub && (sub.contents || []).find((x) => x.name === second);
    return unitSymbol(s && s.unit);
  }

  // ---- formatting ------------------------------------------------------------------------
  function formatValue(v, unit) {
    if (v === null || v === undefined) return '—';
    let text;
    if (typeof v === 'number') {
      text = Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4).replace(/\.?0+$/, ''));
    } else if (typeof v === 'object') {
      text = JSON.stringify(v);
      if (text.length > 60) text = text.slice(0, 57) + '…';
    } else {
      text = String(v);
    }
    return unit ? `${text} ${unit}` : text;
  }
  function formatTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const age = (Date.now() - d.getTime()) / 1000;
    const clock = d.toLocaleTimeString([], {hour12: false});
    if (age < 0 || age > 86400) return d.toLocaleString([], {hour12: false});
    return clock;
  }
  function formatSeconds(s) {
    if (s >= 86400 && s % 86400 === 0) return `${s / 86400} d`;
    if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
    if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
    return `${s} s`;
  }
  const SYNC_TEXT = {none: 'no desired value', pending: 'sync pending', synced: 'in sync', in_sync: 'in sync', timeout: 'sync timed out', timed_out: 'sync timed out', failed: 'sync failed'};
  const syncText = (s) => SYNC_TEXT[s] || String(s || '');
  const syncClass = (s) => (s === 'pending' ? 'warn' : s === 'timeout' || s === 'timed_out' || s === 'failed' ? 'bad' : s === 'none' || !s ? 'muted' : 'good');

  // ---- the twin list and tree --------------------------------------------------------------
  // A query row: {"$dtId", "$metadata": {"$model", "$stale", p: {syncStatus, ...}}, p: value,
  // component: {"$metadata": {...}, p: value}} (docs/query.md, Results).
  function twinFromRow(row) {
    const meta = row.$metadata || {};
    const t = {id: row.$dtId, model: meta.$model, stale: !!meta.$stale, values: new Map(), sync: new Map()};
    const take = (obj, prefix) => {
      const m = obj.$metadata || {};
      for (const [k, v] of Object.entries(obj)) {
        if (k.startsWith('$')) continue;
        if (v && typeof v === 'object' && !Array.isArray(v) && v.$metadata) take(v, prefix + k + '/');
        else t.values.set(prefix + k, v);
      }
      for (const [k, v] of Object.entries(m)) {
        if (k.startsWith('$') || !v || typeof v !== 'object') continue;
        if (v.syncStatus) t.sync.set(prefix + k, v.syncStatus);
      }
    };
    take(row, '');
    return t;
  }

  async function queryAll(query) {
    const rows = [];
    let continuation = null;
    do {
      const r = await api('/query', {method: 'POST', body: {query, page_size: 1000, continuation}});
      rows.push(...r.json.items);
      continuation = r.json.continuation;
    } while (continuation);
    return rows;
  }

  async function loadTwins() {
    const rows = await queryAll('SELECT * FROM DIGITALTWINS');
    const twins = new Map();
    for (const row of rows) twins.set(row.$dtId, twinFromRow(row));
    await Promise.all([...new Set([...twins.values()].map((t) => t.model))].map(async (m) => {
      if (!state.slots.has(m)) state.slots.set(m, await slotsOf(m));
    }));
    const out = new Map();
    try {
      const rels = await queryAll('SELECT R FROM DIGITALTWINS MATCH (a)-[R]->(b)');
      for (const {R} of rels) {
        if (!R) continue;
        if (!out.has(R.$sourceId)) out.set(R.$sourceId, []);
        out.get(R.$sourceId).push({name: R.$relationshipName, target: R.$targetId});
      }
    } catch (e) {
      if (e.status === 401) throw e;
      // The query language cannot list relationships: ask each twin.
      await Promise.all([...twins.keys()].map(async (id) => {
        const r = await api(`/twins/${enc(id)}/relationships`);
        out.set(id, r.json.outgoing.map((x) => ({name: x.name, target: x.target})));
      }));
    }
    state.twins = twins;
    state.out = out;
    renderTree();
    renderSummary();
  }

  // Roots are twins nothing points to; a cycle with no way in is entered at its smallest id.
  function roots() {
    const targeted = new Set();
    for (const rels of state.out.values()) for (const r of rels) targeted.add(r.target);
    const ids = [...state.twins.keys()].sort(naturalCompare);
    const rs = ids.filter((id) => !targeted.has(id));
    const reached = new Set();
    const walk = (id) => {
      if (reached.has(id)) return;
      reached.add(id);
      for (const r of state.out.get(id) || []) walk(r.target);
    };
    rs.forEach(walk);
    for (const id of ids) if (!reached.has(id)) { rs.push(id); walk(id); }
    return rs;
  }
  const collator = new Intl.Collator(undefined, {numeric: true});
  function naturalCompare(a, b) { return collator.compare(a, b); }

  function matchesFilter(id) {
    const t = state.twins.get(id);
    if (state.staleOnly && !(t && t.stale)) return false;
    if (!state.filter) return true;
    const f = state.filter.toLowerCase();
    return id.toLowerCase().includes(f) || (t && String(t.model).toLowerCase().includes(f));
  }
  function subtreeMatches(id, seen = new Set()) {
    if (matchesFilter(id)) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    return (state.out.get(id) || []).some((r) => subtreeMatches(r.target, seen));
  }

  const collapsed = new Set();

  function renderTree() {
    const tree = $('tree');
    tree.replaceChildren();
    state.rows = new Map();
    for (const id of roots()) {
      if (!subtreeMatches(id)) continue;
      tree.append(treeItem(id, 1, new Set()));
    }
    if (!tree.children.length) tree.append(el('li', {class: 'muted', text: state.twins.size ? 'No twin matches the filter.' : 'No twins.'}));
    tree.dataset.state = 'ready';
    markSelected();
  }

  function treeItem(id, level, path) {
    const t = state.twins.get(id);
    const rels = (state.out.get(id) || []).filter((r) => state.twins.has(r.target) && !path.has(r.target));
    const key = [...path, id].join('>');
    // Plain nested lists of buttons (no ARIA tree role: that promises arrow-key navigation).
    const li = el('li', {'data-twin-id': id, 'data-level': level});
    const row = twinRow(id, t);
    if (rels.length) {
      const open = !collapsed.has(key);
      const toggle = el('button', {
        type: 'button', class: 'toggle', 'aria-expanded': String(open), 'aria-label': `${id}: ${rels.length} related`,
        text: open ? '▾' : '▸',
        onclick: () => { if (collapsed.has(key)) collapsed.delete(key); else collapsed.add(key); renderTree(); },
      });
      row.prepend(toggle);
      li.append(row);
      if (open) {
        const inner = new Set(path).add(id);
        // Children grouped by relationship name: line-7 → contains → motor-1 ...
        const byName = new Map();
        for (const r of rels) {
          if (!subtreeMatches(r.target)) continue;
          if (!byName.has(r.name)) byName.set(r.name, []);
          byName.get(r.name).push(r.target);
        }
        const group = el('ul', {'aria-label': `related to ${id}`});
        for (const [name, targets] of byName) {
          group.append(el('li', {class: 'rel-name', text: `${name} (${targets.length})`}));
          for (const target of targets.sort(naturalCompare)) group.append(treeItem(target, level + 1, inner));
        }
        li.append(group);
      }
    } else {
      row.prepend(el('span', {class: 'toggle-space', 'aria-hidden': 'true'}));
      li.append(row);
    }
    return li;
  }

  function twinRow(id, t) {
    const m = t && loadedModel(t.model);
    const row = el('div', {class: 'twin-row' + (t && t.stale ? ' is-stale' : '')});
    if (!state.rows.has(id)) state.rows.set(id, []);
    state.rows.get(id).push(row);
    const name = el('button', {type: 'button', class: 'twin-name', 'data-select': id, onclick: () => select(id)},
      el('span', {class: 'id', text: id}),
      el('span', {class: 'model', text: m ? (m.displayName || m.id) : (t ? t.model : '')}));
    row.append(name, el('span', {class: 'row-values'}), el('span', {class: 'badges'}));
    fillRow(row, id);
    return row;
  }

  // The parts of a row that live events change: a few telemetry values and the badges.
  function fillRow(row, id) {
    const t = state.twins.get(id);
    if (!t) return;
    row.classList.toggle('is-stale', t.stale);
    const values = row.querySelector('.row-values');
    values.replaceChildren();
    let shown = 0;
    const slots = state.slots.get(t.model);
    // The model's telemetry in its declared order, numbers and strings only.
    for (const {path} of slots ? slots.telemetry : []) {
      const v = t.values.get(path);
      if (v === undefined || v === null || typeof v === 'object') continue;
      if (shown++ === ROW_VALUES) break;
      values.append(el('span', {class: 'value', 'data-path': path, title: path},
        el('span', {class: 'value-name', text: path.replace('/', '.')}),
        el('span', {class: 'value-num', text: formatValue(v, unitOf(t.model, path))})));
    }
    const badges = row.querySelector('.badges');
    badges.replaceChildren();
    if (t.stale) badges.append(el('span', {class: 'badge stale', 'data-stale': 'true', title: 'No data within the expected update period', text: 'stale'}));
    const pending = [...t.sync.values()].filter((s) => s === 'pending').length;
    const failed = [...t.sync.values()].filter((s) => syncClass(s) === 'bad').length;
    if (failed) badges.append(el('span', {class: 'badge bad', text: `${failed} sync failed`}));
    else if (pending) badges.append(el('span', {class: 'badge warn', text: `${pending} sync pending`}));
    if (alertsFor(id).length) badges.append(el('span', {class: 'badge alert', text: `${alertsFor(id).length} alert${alertsFor(id).length > 1 ? 's' : ''}`}));
  }

  function repaintDirty() {
    for (const id of state.dirty) for (const row of state.rows.get(id) || []) fillRow(row, id);
    state.dirty.clear();
    renderSummary();
  }
  let repaintTimer = 0;
  function scheduleRepaint() {
    // Coalesce bursts of events (a line of motors reporting every second) into one repaint.
    if (!repaintTimer) repaintTimer = setTimeout(() => { repaintTimer = 0; repaintDirty(); }, 150);
  }

  function renderSummary() {
    const n = state.twins.size;
    const stale = [...state.twins.values()].filter((t) => t.stale).length;
    const pending = [...state.twins.values()].filter((t) => [...t.sync.values()].includes('pending')).length;
    $('summary').textContent = `${n} twin${n === 1 ? '' : 's'} · ${stale} stale · ${pending} with desired values pending`;
  }

  function markSelected() {
    for (const li of document.querySelectorAll('#tree li[data-twin-id]')) {
      const on = li.dataset.twinId === state.selected;
      li.classList.toggle('selected', on);
      const b = li.querySelector(':scope > .twin-row > .twin-name');
      if (on) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
    }
  }

  // ---- the selected twin ---------------------------------------------------------------------
  async function select(id) {
    state.selected = id;
    const params = new URLSearchParams(location.hash.slice(1));
    params.set('twin', id);
    history.replaceState(null, '', '#' + params.toString());
    markSelected();
    await loadDetail();
  }

  async function loadDetail() {
    const id = state.selected;
    if (!id) return;
    let r;
    try {
      r = await api(`/twins/${enc(id)}`);
    } catch (e) {
      if (e.status === 404) { $('detail-title').textContent = `No twin ${id}`; $('detail-body').hidden = true; return; }
      throw e;
    }
    if (state.selected !== id) return;
    state.detail = {...r.json, etag: r.etag};
    const slots = await slotsOf(r.json.model);
    state.sparks = new Map();
    renderDetail(slots);
    await loadHistory(id, slots);
  }

  function renderDetail(slots) {
    const d = state.detail;
    const m = loadedModel(d.model);
    $('detail').dataset.twin = d.id;
    $('detail-title').textContent = d.id;
    $('detail-hint').hidden = true;
    $('detail-body').hidden = false;
    const facts = $('detail-facts');
    facts.replaceChildren();
    const fact = (k, v, cls, id) => facts.append(el('div', {class: cls || ''}, el('dt', {text: k}), el('dd', {text: v, id})));
    fact('Model', m && m.displayName ? `${m.displayName} (${d.model})` : d.model);
    fact('Last data', formatTime(d.lastDataAt), '', 'fact-last-data');
    fact('Expected update period', d.expectedUpdatePeriodSeconds ? formatSeconds(d.expectedUpdatePeriodSeconds) : 'none');
    fact('State', d.stale ? 'stale: no data within the expected period' : 'fresh', d.stale ? 'is-stale' : '');
    fact('Version', String(d.version));

    const tbody = $('telemetry-table').querySelector('tbody');
    tbody.replaceChildren();
    for (const {path, content} of slots.telemetry) {
      const t = d.telemetry[path] || {};
      tbody.append(el('tr', {'data-path': path},
        el('th', {scope: 'row', text: label(path, content)}),
        el('td', {class: 'num', 'data-value': '', text: formatValue(t.value, unitSymbol(content.unit))}),
        el('td', {class: 'spark-cell'}, sparkline([], `${path}, last hour`)),
        el('td', {'data-time': '', text: formatTime(t.time)})));
    }
    $('telemetry-table').hidden = !slots.telemetry.length;
    $('telemetry-empty').hidden = !!slots.telemetry.length;

    const pbody = $('property-table').querySelector('tbody');
    pbody.replaceChildren();
    for (const {path, content} of slots.properties) {
      const p = d.properties[path] || {};
      const row = el('tr', {'data-path': path},
        el('th', {scope: 'row', text: label(path, content)}),
        el('td', {'data-reported': '', text: formatValue(p.reported, unitSymbol(content.unit))}),
        el('td', {'data-desired': '', text: p.writable ? formatValue(p.desired, unitSymbol(content.unit)) : 'read-only'}),
        el('td', {}, p.writable ? el('span', {class: `badge ${syncClass(p.sync)}`, 'data-sync': p.sync || 'none', text: syncText(p.sync || 'none')}) : ''),
        el('td', {}, p.writable && isScalar(content.schema) ? desiredForm(path, content, p) : ''));
      pbody.append(row);
    }

    const cmds = $('commands');
    cmds.replaceChildren();
    for (const c of slots.commands) {
      const name = c.component ? `${c.component}.${c.content.name}` : c.content.name;
      cmds.append(el('button', {type: 'button', class: 'command', 'data-command': name,
        onclick: () => openCommand(d.id, c), text: `${c.content.displayName || name}…`}));
    }
    $('commands-empty').hidden = !!slots.commands.length;
    $('command-result').replaceChildren();
  }

  const label = (path, content) => (content.displayName && !path.includes('/') ? content.displayName : path.replace('/', ' › '));
  const isScalar = (schema) => ['double', 'float', 'integer', 'long', 'boolean', 'string'].includes(schema) ||
    (schema && schema.type === 'Enum');

  function desiredForm(path, content, p) {
    const id = `desired-${path.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    const input = inputFor(content.schema, id, p.desired ?? p.reported);
    const form = el('form', {class: 'inline-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const value = readInput(input, content.schema);
      const status = form.querySelector('.form-status');
      status.textContent = 'Sending…';
      try {
        const r = await api(`/twins/${enc(state.detail.id)}/desired`, {
          method: 'PATCH', body: [{op: 'replace', path: '/' + path, value}],
          headers: {'Content-Type': 'application/json-patch+json', 'If-Match': state.detail.etag || '*'},
        });
        state.detail.etag = r.etag;
        status.textContent = 'Sent';
        await loadDetail();
      } catch (e) {
        status.textContent = e.status === 412 ? 'Changed meanwhile: reloaded, try again' : e.message;
        if (e.status === 412) await loadDetail();
      }
    }},
    el('label', {for: id, class: 'visually-hidden', text: `Desired ${path}`}), input,
    el('button', {type: 'submit', class: 'small', text: 'Set'}),
    el('span', {class: 'form-status', role: 'status'}));
    return form;
  }

  async function loadHistory(id, slots) {
    const step = Math.max(1, Math.round(HISTORY_WINDOW_S / HISTORY_POINTS));
    await Promise.all(slots.telemetry.map(async ({path, content}) => {
      if (!['double', 'float', 'integer', 'long'].includes(content.schema)) return;
      try {
        const r = await api(`/twins/${enc(id)}/telemetry/${path.split('/').map(enc).join('/')}/history?step=${step}s`);
        if (state.selected !== id) return;
        const points = r.json.rows.map((x) => x.avg);
        state.sparks.set(path, points);
        drawSpark(path);
      } catch (e) {
        if (e.status === 401) throw e;
      }
    }));
  }

  function sparkline(points, title) {
    const s = svg('svg', {class: 'spark', width: SPARK_W, height: SPARK_H, viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, role: 'img'});
    const t = svg('title');
    t.textContent = title;
    s.append(t, svg('polyline', {points: '', fill: 'none'}));
    s.dataset.points = String(points.length);
    return s;
  }
  function drawSpark(path) {
    const row = [...document.querySelectorAll('#telemetry-table tr[data-path]')].find((r) => r.dataset.path === path);
    if (!row) return;
    const s = row.querySelector('svg.spark');
    const pts = state.sparks.get(path) || [];
    const min = Math.min(...pts);
    const max = Math.max(...pts);
    const span = max - min || 1;
    const dx = pts.length > 1 ? (SPARK_W - 4) / (pts.length - 1) : 0;
    const coords = pts.map((v, i) => `${(2 + i * dx).toFixed(1)},${(SPARK_H - 3 - ((v - min) / span) * (SPARK_H - 6)).toFixed(1)}`);
    if (pts.length === 1) coords.push(`${SPARK_W - 2},${coords[0].split(',')[1]}`);
    s.querySelector('polyline').setAttribute('points', coords.join(' '));
    s.dataset.points = String(pts.length);
    s.querySelector('title').textContent = pts.length
      ? `${path}: ${pts.length} points, min ${formatValue(min)}, max ${formatValue(max)}`
      : `${path}: no history`;
  }

  // ---- commands --------------------------------------------------------------------------------
  // A form from the command's request schema (GET /models/{id}: contents[].request.schema).
  function inputFor(schema, id, value) {
    if (schema && schema.type === 'Enum') {
      const sel = el('select', {id});
      for (const v of schema.enumValues || []) {
        const o = el('option', {value: JSON.stringify(v.value), text: v.name});
        if (v.value === value) o.selected = true;
        sel.append(o);
      }
      sel.dataset.kind = 'enum';
      return sel;
    }
    switch (schema) {
      case 'boolean': {
        const c = el('input', {id, type: 'checkbox'});
        c.checked = !!value;
        c.dataset.kind = 'boolean';
        return c;
      }
      case 'integer': case 'long':
        return Object.assign(el('input', {id, type: 'number', step: '1', required: true, 'data-kind': 'integer'}), {value: value ?? ''});
      case 'double': case 'float':
        return Object.assign(el('input', {id, type: 'number', step: 'any', required: true, 'data-kind': 'number'}), {value: value ?? ''});
      case 'string': case 'date': case 'dateTime': case 'time': case 'duration':
        return Object.assign(el('input', {id, type: 'text', 'data-kind': 'string', placeholder: schema === 'string' ? '' : schema}), {value: value ?? ''});
      default:
        // Objects, arrays, maps: JSON, checked by the server against the model.
        return Object.assign(el('textarea', {id, rows: 4, 'data-kind': 'json', spellcheck: 'false'}), {value: value === undefined ? '' : JSON.stringify(value, null, 2)});
    }
  }
  function readInput(input, schema) {
    switch (input.dataset.kind) {
      case 'enum': return JSON.parse(input.value);
      case 'boolean': return input.checked;
      case 'integer': return parseInt(input.value, 10);
      case 'number': return Number(input.value);
      case 'string': return input.value;
      default: return input.value.trim() ? JSON.parse(input.value) : null;
    }
  }

  let commandTarget = null;
  function openCommand(twinId, c) {
    const cmd = c.content;
    commandTarget = {twinId, component: c.component, cmd};
    const name = c.component ? `${c.component}.${cmd.name}` : cmd.name;
    $('command-title').textContent = `${cmd.displayName || name} on ${twinId}`;
    $('command-description').textContent = cmd.description || (cmd.request ? `Request: ${cmd.request.name}` : 'This command takes no request.');
    const fields = $('command-fields');
    fields.replaceChildren();
    $('command-error').textContent = '';
    if (cmd.request) {
      const sch = cmd.request.schema;
      if (sch && sch.type === 'Object') {
        const fs = el('fieldset', {}, el('legend', {text: cmd.request.name}));
        for (const f of sch.fields || []) {
          const id = `cmd-field-${f.name}`;
          fs.append(el('label', {for: id, text: f.name}), inputFor(f.schema, id));
        }
        fields.append(fs);
      } else {
        fields.append(el('label', {for: 'cmd-request', text: `${cmd.request.name} (${typeof sch === 'string' ? sch : (sch && sch.type) || 'JSON'})`}),
          inputFor(sch, 'cmd-request'));
      }
    }
    $('command-dialog').showModal();
  }

  function commandRequest() {
    const {cmd} = commandTarget;
    if (!cmd.request) return undefined;
    const sch = cmd.request.schema;
    if (sch && sch.type === 'Object') {
      const out = {};
      for (const f of sch.fields || []) {
        const input = $(`cmd-field-${f.name}`);
        if (input.dataset.kind !== 'boolean' && input.value === '') continue;
        out[f.name] = readInput(input, f.schema);
      }
      return out;
    }
    return readInput($('cmd-request'), sch);
  }

  async function sendCommand(ev) {
    ev.preventDefault();
    const {twinId, component, cmd} = commandTarget;
    let body;
    try {
      body = commandRequest();
    } catch (e) {
      $('command-error').textContent = `The request is not valid JSON: ${e.message}`;
      return;
    }
    $('command-dialog').close();
    const out = $('command-result');
    const name = component ? `${component}.${cmd.name}` : cmd.name;
    out.className = 'command-result pending';
    out.textContent = `${name}: waiting for ${twinId}…`;
    const q = new URLSearchParams({timeout: $('command-timeout').value});
    if (component) q.set('component', component);
    try {
      const r = await api(`/twins/${enc(twinId)}/commands/${enc(cmd.name)}?${q}`, {
        method: 'POST', body: body === undefined ? undefined : JSON.stringify(body),
      });
      out.className = 'command-result good';
      out.dataset.outcome = 'ok';
      out.textContent = `${name} on ${twinId}: ${r.json.response === null ? 'done (no response)' : 'response ' + JSON.stringify(r.json.response)} · correlation ${r.json.correlationId}`;
    } catch (e) {
      out.className = 'command-result bad';
      out.dataset.outcome = e.status === 504 ? 'timeout' : 'error';
      out.textContent = e.status === 504 ? `${name} on ${twinId}: timed out, the device did not answer. ${e.message}`
        : e.status === 403 ? `${name}: your token may not send commands (operator role needed).`
        : `${name} failed: ${e.message}`;
    }
  }

  // ---- alerts ------------------------------------------------------------------------------
  // GET /api/v1/alerts: {"items": [{twin, source, severity, message, time, acknowledged}]}.
  // When the API has no such route (404), the panel stays hidden.
  let alerts = [];
  const alertsFor = (id) => alerts.filter((a) => a.twin === id && !a.acknowledged);

  async function loadAlerts() {
    if (state.alertsAvailable === false) return;
    try {
      const r = await api('/alerts');
      state.alertsAvailable = true;
      alerts = Array.isArray(r.json) ? r.json : (r.json && r.json.items) || [];
    } catch (e) {
      if (e.status === 404 || e.status === 405) {
        state.alertsAvailable = false;
        $('alerts').hidden = true;
        return;
      }
      throw e;
    }
    renderAlerts();
  }

  function renderAlerts() {
    $('alerts').hidden = false;
    const list = $('alerts-list');
    list.replaceChildren();
    const sorted = [...alerts].sort((a, b) => String(b.time).localeCompare(String(a.time)));
    for (const a of sorted) {
      const li = el('li', {class: `alert sev-${a.severity || 'info'}${a.acknowledged ? ' acked' : ''}`, 'data-alert-twin': a.twin},
        el('span', {class: 'badge sev', text: a.severity || 'info'}),
        el('button', {type: 'button', class: 'link', onclick: () => select(a.twin), text: a.twin}),
        el('span', {class: 'alert-msg', text: a.message || a.type || ''}),
        el('span', {class: 'muted', text: formatTime(typeof a.time === 'number' ? new Date(a.time / 1e6).toISOString() : a.time)}));
      if (a.acknowledged) li.append(el('span', {class: 'muted', text: 'acknowledged'}));
      else li.append(el('button', {type: 'button', class: 'small', text: 'Acknowledge', onclick: () => acknowledge(a)}));
      list.append(li);
    }
    const open = alerts.filter((a) => !a.acknowledged).length;
    $('alerts-count').textContent = alerts.length ? `(${open} open)` : '';
    $('alerts-empty').hidden = alerts.length > 0;
    for (const a of alerts) state.dirty.add(a.twin);
    scheduleRepaint();
  }

  async function acknowledge(a) {
    try {
      await api(`/alerts/${enc(a.twin)}/${enc(a.source)}/acknowledge`, {method: 'POST'});
      await loadAlerts();
    } catch (e) {
      showError(e.status === 403 ? 'Acknowledging alerts needs the operator role.' : `Acknowledge failed: ${e.message}`);
    }
  }

  // ---- live events (SSE over fetch: EventSource cannot send the Authorization header) ----------
  let events = null; // AbortController of the open stream
  let retryMs = 2000;

  function setLive(stateName, text) {
    const s = $('live-status');
    s.dataset.state = stateName;
    $('live-text').textContent = text;
  }

  function stopEvents() {
    if (events) events.abort();
    events = null;
    setLive('idle', 'Not connected');
  }

  async function startEvents() {
    stopEvents();
    const ctl = new AbortController();
    events = ctl;
    setLive('connecting', 'Connecting…');
    try {
      const res = await fetch(`${API}/events`, {
        headers: {Accept: 'text/event-stream', Authorization: `Bearer ${state.token}`},
        signal: ctl.signal, cache: 'no-store',
      });
      if (res.status === 401) { askToken('The token was refused (401). Enter a valid one.'); return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setLive('connected', 'Live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
          onFrame(frame);
        }
      }
      throw new Error('the stream ended');
    } catch (e) {
      if (ctl.signal.aborted || events !== ctl) return;
      setLive('retrying', `Reconnecting (${e.message})`);
      setTimeout(() => { if (events === ctl) resync(); }, retryMs);
    }
  }

  function onFrame(frame) {
    let type = 'message';
    const data = [];
    for (const line of frame.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') type = val;
      else if (field === 'data') data.push(val);
      else if (field === 'retry' && /^\d+$/.test(val)) retryMs = Number(val);
    }
    if (!data.length) return;
    let ev;
    try { ev = JSON.parse(data.join('\n')); } catch (_) { return; }
    onEvent(type, ev);
  }

  let reloadTimer = 0;
  function scheduleReload() {
    if (!reloadTimer) reloadTimer = setTimeout(() => { reloadTimer = 0; loadTwins().catch(report); }, 500);
  }

  function onEvent(type, ev) {
    if (type === 'dropped') { scheduleReload(); return; }
    if (type.startsWith('alert')) { loadAlerts().catch(report); return; }
    const t = state.twins.get(ev.twin);
    if (!t) { if (type !== 'deleted') scheduleReload(); return; }
    switch (type) {
      case 'reported':
        for (const [path, v] of Object.entries(ev.values || {})) t.values.set(path, v);
        break;
      case 'desired':
        break;
      case 'sync':
        for (const [path, s] of Object.entries(ev.sync || {})) t.sync.set(path, s);
        break;
      case 'stale':
        t.stale = !!ev.stale;
        break;
      case 'created': case 'deleted': case 'relationshipAdded': case 'relationshipRemoved':
        scheduleReload();
        return;
      default:
        return;
    }
    state.dirty.add(ev.twin);
    scheduleRepaint();
    if (ev.twin === state.selected && state.detail) liveDetail(type, ev);
  }

  function liveDetail(type, ev) {
    const d = state.detail;
    d.version = ev.version;
    d.etag = `"${ev.version}"`;
    if (type === 'reported') {
      const now = new Date().toISOString();
      d.lastDataAt = now;
      if ($('fact-last-data')) $('fact-last-data').textContent = formatTime(now);
      for (const [path, v] of Object.entries(ev.values || {})) {
        const row = [...document.querySelectorAll('#telemetry-table tr[data-path], #property-table tr[data-path]')].find((r) => r.dataset.path === path);
        if (!row) continue;
        const unit = unitOf(d.model, path);
        const cell = row.querySelector('[data-value], [data-reported]');
        if (cell) cell.textContent = formatValue(v, unit);
        const time = row.querySelector('[data-time]');
        if (time) time.textContent = formatTime(now);
        if (d.telemetry[path]) {
          d.telemetry[path] = {value: v, time: now};
          if (typeof v === 'number') {
            const pts = state.sparks.get(path) || [];
            pts.push(v);
            if (pts.length > HISTORY_POINTS * 2) pts.shift();
            state.sparks.set(path, pts);
            drawSpark(path);
          }
        }
      }
    } else if (type === 'stale' || type === 'sync' || type === 'desired') {
      // Sync states and desired values need the full property view: fetch it again.
      clearTimeout(liveDetail.timer);
      liveDetail.timer = setTimeout(() => loadDetail().catch(report), 300);
    }
  }

  // ---- start -------------------------------------------------------------------------------
  function report(e) {
    if (e instanceof ApiError && e.status === 401) return;
    showError(`Could not load data: ${e.message}`);
  }

  async function resync() {
    showError('');
    try {
      await loadTwins();
      await loadAlerts();
      if (state.selected) await loadDetail();
      startEvents();
    } catch (e) {
      report(e);
      if (!(e instanceof ApiError)) setTimeout(resync, retryMs); // the server is away: retry
    }
  }

  function connect(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('sign-out').hidden = false;
    resync();
  }

  document.addEventListener('DOMContentLoaded', () => {
    takeTokenFromUrl();
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token-input').value.trim();
      if (!t) return;
      $('token-input').value = '';
      $('token-dialog').close();
      connect(t);
    });
    $('token-dialog').addEventListener('cancel', (ev) => ev.preventDefault()); // nothing works without one
    $('sign-out').addEventListener('click', () => askToken('Token forgotten. Enter a token to connect again.'));
    $('command-form').addEventListener('submit', sendCommand);
    $('command-cancel').addEventListener('click', () => $('command-dialog').close());
    $('tree-filter').addEventListener('input', (ev) => { state.filter = ev.target.value.trim(); renderTree(); });
    $('stale-only').addEventListener('change', (ev) => { state.staleOnly = ev.target.checked; renderTree(); });
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) connect(token); else askToken();
  });
})();
