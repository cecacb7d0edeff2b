// PoT node dashboard: plain JS, no dependencies, talks only to the node that served it.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_BLOCK_ROWS = 20;
  const POLL_MS = 4000;
  const SVG = 'http://www.w3.org/2000/svg';
  let validatorCount = 0;
  let refreshQueued = false;

  function short(hex, n) { if (!hex) return ''; n = n || 10; return hex.length > 2 * n ? hex.slice(0, n) + '…' + hex.slice(-4) : hex; }
  function time(ms) { return ms ? new Date(Number(ms)).toLocaleTimeString() : '-'; }
  function ago(ms) { if (!ms) return 'never'; const s = Math.max(0, Math.round((Date.now() - Number(ms)) / 1000)); return s + ' s ago'; }
  function text(el, value) { el.textContent = value === null || value === undefined ? '-' : String(value); }
  function cell(tr, value, cls) { const td = document.createElement('td'); text(td, value); if (cls) td.className = cls; tr.appendChild(td); return td; }
  function rows(tbody, items, fill) { tbody.replaceChildren(); for (const it of items) { const tr = document.createElement('tr'); fill(tr, it); tbody.appendChild(tr); } }
  function empty(id, isEmpty) { $(id).classList.toggle('hidden', !isEmpty); }
  function count(v) { if (Array.isArray(v)) return v.length; return v === null || v === undefined ? 0 : v; }
  function sumRewards(v) {
    if (Array.isArray(v)) return v.reduce((a, p) => a + Number(typeof p === 'object' && p !== null ? (p.amount || 0) : p), 0);
    return v === null || v === undefined ? 0 : v;
  }

  async function getJson(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  function setLive(on, label) { const s = $('sse-status'); s.className = 'pill ' + (on ? 'on' : 'off'); text(s, label); }

  // ---------------------------------------------------------------- head and blocks
  async function loadStatus() {
    const s = await getJson('/api/status');
    text($('chain-id'), s.chainId); text($('node-address'), short(s.address, 12)); $('node-address').title = s.address;
    text($('node-roles'), (s.roles || []).join(', ') || 'none');
    text($('mempool'), s.mempool + ' pending');
    validatorCount = s.validators;
    showHead(s.height, s.headHash);
    if (s.height > 0) {
      const b = await getJson('/api/block/' + s.height);
      const signers = (b.certificate || []).length;
      const quorum = 2 * Math.floor((validatorCount - 1) / 3) + 1;
      text($('head-time'), time(b.header.timeMs));
      text($('finality'), 'final: certificate with ' + signers + ' of ' + validatorCount + ' validator signatures (quorum ' + quorum + ')');
      $('finality').className = signers >= quorum ? 'ok' : 'bad';
      if ($('blocks').tBodies[0].rows.length === 0) {
        addBlock({ height: s.height, hash: s.headHash, txCount: (b.transactions || []).length, certificateSigners: signers, timeMs: b.header.timeMs });
      }
    } else {
      text($('finality'), 'genesis (no blocks yet)');
    }
  }

  function showHead(height, hash) {
    const h = $('head-height');
    if (Number(h.textContent) >= Number(height) && h.textContent !== '?') return;
    text(h, height); text($('head-hash'), hash);
  }

  function addBlock(e) {
    const tbody = $('blocks').tBodies[0];
    for (const r of tbody.rows) if (r.dataset.height === String(e.height)) return;
    const tr = document.createElement('tr');
    tr.dataset.height = String(e.height);
    cell(tr, e.height); cell(tr, short(e.hash), 'mono'); cell(tr, e.txCount); cell(tr, e.certificateSigners); cell(tr, time(e.timeMs));
    tr.className = 'flash';
    setTimeout(() => tr.classList.remove('flash'), 1200);
    tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.rows.length > MAX_BLOCK_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }

  // ---------------------------------------------------------------- validators, participants
  async function loadValidators() {
    const v = await getJson('/api/validators');
    text($('view'), 'view ' + v.view + ', primary #' + v.primaryIndex + (v.changingView ? ' (view change in progress)' : ''));
    text($('validators-note'), v.validators.length + ' validators, tolerates ' + v.faultsTolerated + ' faulty; reachability probed from this node (#' + v.self + '); last signed = newest certificate among the last ' + v.signerWindow + ' blocks carrying its signature');
    rows($('validators').tBodies[0], v.validators, (tr, x) => {
      cell(tr, x.index); const a = cell(tr, short(x.address, 12), 'mono'); a.title = x.address;
      cell(tr, x.stake);
      cell(tr, (x.self ? 'this node' : 'peer') + (x.primary ? ', primary' : ''));
      const r = cell(tr, x.reachable === true ? 'yes' + (x.latencyMs != null ? ' (' + x.latencyMs + ' ms)' : '') : x.reachable === false ? 'no' : 'unknown', x.reachable === true ? 'ok' : x.reachable === false ? 'bad' : '');
      if (x.probeError) r.title = x.probeError;
      cell(tr, x.self ? 'now' : ago(x.lastSeenMs));
      cell(tr, x.lastSignedHeight);
    });
  }

  async function loadParticipants() {
    const p = await getJson('/api/participants');
    rows($('participants').tBodies[0], p.participants, (tr, x) => {
      const a = cell(tr, short(x.address, 12), 'mono'); a.title = x.address;
      cell(tr, x.roles); cell(tr, x.stake); cell(tr, x.balance);
      cell(tr, x.slashed ? x.slashed.total + ' (' + x.slashed.count + '×, last at ' + x.slashed.lastHeight + ')' : '-', x.slashed ? 'bad' : '');
    });
    empty('participants-empty', p.participants.length === 0);
  }

  // ---------------------------------------------------------------- tasks and the loss curve
  function svg(tag, attrs, parent) { const e = document.createElementNS(SVG, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }

  function drawChart(rounds) {
    const W = 760, H = 240, L = 48, R = 48, T = 12, B = 28;
    const chart = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'validation loss and accuracy by round' });
    const pts = rounds.filter((r) => typeof r.validationLoss === 'number' || typeof r.validationAccuracy === 'number');
    const xs = pts.map((r) => Number(r.round));
    const losses = pts.filter((r) => typeof r.validationLoss === 'number').map((r) => r.validationLoss);
    const minX = Math.min(...xs), maxX = Math.max(...xs);
    const maxLoss = losses.length ? Math.max(...losses) * 1.05 || 1 : 1;
    const x = (v) => L + (maxX === minX ? (W - L - R) / 2 : (v - minX) / (maxX - minX) * (W - L - R));
    const yl = (v) => T + (1 - v / maxLoss) * (H - T - B);
    const ya = (v) => T + (1 - v) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const y = T + i * (H - T - B) / 4;
      svg('line', { class: 'grid', x1: L, x2: W - R, y1: y, y2: y }, chart);
      svg('text', { x: L - 4, y: y + 3, 'text-anchor': 'end' }, chart).textContent = (maxLoss * (1 - i / 4)).toPrecision(3);
      svg('text', { x: W - R + 4, y: y + 3 }, chart).textContent = (1 - i / 4).toFixed(2);
    }
    svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }, chart);
    svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }, chart);
    svg('line', { class: 'axis', x1: W - R, x2: W - R, y1: T, y2: H - B }, chart);
    const ticks = Math.min(pts.length, 8);
    for (let i = 0; i < ticks; i++) {
      const r = pts[Math.round(i * (pts.length - 1) / Math.max(1, ticks - 1))];
      svg('text', { x: x(Number(r.round)), y: H - B + 14, 'text-anchor': 'middle' }, chart).textContent = String(r.round);
    }
    svg('text', { x: (L + W - R) / 2, y: H - 2, 'text-anchor': 'middle' }, chart).textContent = 'round';
    const series = [['validationLoss', yl, 'loss'], ['validationAccuracy', ya, 'acc']];
    for (const [key, y, cls] of series) {
      const ps = pts.filter((r) => typeof r[key] === 'number');
      if (ps.length === 0) continue;
      svg('polyline', { class: 'line-' + cls, points: ps.map((r) => x(Number(r.round)) + ',' + y(r[key])).join(' ') }, chart);
      for (const r of ps) {
        const c = svg('circle', { class: 'pt-' + cls, cx: x(Number(r.round)), cy: y(r[key]), r: 3 }, chart);
        svg('title', {}, c).textContent = 'round ' + r.round + ': ' + key + ' ' + r[key];
      }
    }
    return chart;
  }

  async function loadTasks() {
    const t = await getJson('/api/tasks');
    const host = $('tasks');
    const blocks = [];
    for (const task of t.tasks) {
      const div = document.createElement('div');
      div.className = 'task'; div.id = 'task-' + task.id;
      const h = document.createElement('h3');
      const r = task.round;
      text(h, 'task ' + task.id + (r ? ' — round ' + r.round + (r.finished ? ' (finished)' : '') + ', ' + r.pendingSubmissions + ' pending, escrow ' + r.escrow + ', model ' + short(r.modelRoot) : ''));
      div.appendChild(h);
      let rounds = [];
      if (task.roundsAvailable) {
        try { rounds = await getJson('/api/task/' + task.id + '/rounds'); } catch (e) { rounds = []; }
      }
      if (!Array.isArray(rounds) || rounds.length === 0) {
        const p = document.createElement('p'); p.className = 'empty rounds-empty';
        text(p, task.roundsAvailable ? 'no rounds yet' : 'no rounds yet (this node records no round history of this task: only validators running it do)');
        div.appendChild(p);
      } else {
        const legend = document.createElement('p');
        legend.innerHTML = '<span class="legend-loss">● validation loss (left)</span> &nbsp; <span class="legend-acc">● validation accuracy (right)</span>';
        div.appendChild(legend);
        div.appendChild(drawChart(rounds));
        const table = document.createElement('table'); table.className = 'rounds';
        table.innerHTML = '<thead><tr><th>round</th><th>height</th><th>loss</th><th>accuracy</th><th>accepted</th><th>rejected</th><th>slashed</th><th>rewards</th><th>model root</th></tr></thead><tbody></tbody>';
        rows(table.tBodies[0], rounds.slice().reverse().slice(0, 50), (tr, x) => {
          cell(tr, x.round); cell(tr, x.height);
          cell(tr, typeof x.validationLoss === 'number' ? x.validationLoss.toFixed(4) : '-');
          cell(tr, typeof x.validationAccuracy === 'number' ? x.validationAccuracy.toFixed(4) : '-');
          cell(tr, count(x.accepted)); cell(tr, count(x.rejected));
          cell(tr, count(x.slashed), count(x.slashed) > 0 ? 'bad' : ''); cell(tr, sumRewards(x.rewards));
          cell(tr, short(x.modelRoot), 'mono');
        });
        div.appendChild(table);
      }
      blocks.push(div);
    }
    host.replaceChildren(...blocks);
    empty('tasks-empty', t.tasks.length === 0);
  }

  // ---------------------------------------------------------------- activity
  async function loadActivity() {
    const a = await getJson('/api/activity');
    text($('activity-range'), '(blocks ' + a.fromHeight + '–' + a.toHeight + ')');
    const proofsBySubmission = {};
    for (const f of a.fraudProofs) proofsBySubmission[f.submissionId] = f;
    const rejectsBySubmission = {};
    for (const x of a.attestations) if (!x.accept) rejectsBySubmission[x.submissionId] = x;
    const slashes = [];
    for (const f of a.finalizations) {
      for (const s of f.slashes) {
        const ev = [];
        for (const id of f.rejected) {
          if (proofsBySubmission[id]) ev.push('fraud proof ' + short(proofsBySubmission[id].id) + ' (' + proofsBySubmission[id].evidenceBytes + ' B, sha256 ' + short(proofsBySubmission[id].evidenceSha256) + ')');
          else if (rejectsBySubmission[id]) ev.push('reject by ' + short(rejectsBySubmission[id].verifier, 8) + ', check ' + rejectsBySubmission[id].failedCheck + ', evidence ' + short(rejectsBySubmission[id].evidenceHash));
        }
        slashes.push({ f: f, s: s, evidence: ev.join('; ') || 'rejected submissions ' + f.rejected.map((x) => short(x)).join(', ') });
      }
    }
    rows($('slashes').tBodies[0], slashes, (tr, x) => {
      cell(tr, x.f.height); cell(tr, x.f.taskId + '/' + x.f.round);
      const o = cell(tr, short(x.s.offender, 12), 'mono bad'); o.title = x.s.offender;
      cell(tr, x.s.amount); cell(tr, x.s.beneficiary ? short(x.s.beneficiary, 12) : 'burned', 'mono'); cell(tr, x.evidence);
    });
    empty('slashes-empty', slashes.length === 0);
    rows($('finalizations').tBodies[0], a.finalizations.slice(0, 50), (tr, f) => {
      cell(tr, f.height); cell(tr, f.taskId + '/' + f.round); cell(tr, f.accepted.length); cell(tr, f.rejected.length, f.rejected.length ? 'bad' : '');
      cell(tr, sumRewards(f.rewards) + ' to ' + f.rewards.length); cell(tr, short(f.newModelRoot), 'mono');
    });
    rows($('attestations').tBodies[0], a.attestations.slice(0, 50), (tr, x) => {
      cell(tr, x.height); cell(tr, short(x.verifier, 12), 'mono'); cell(tr, short(x.submissionId), 'mono');
      cell(tr, x.accept ? 'accept' : 'reject (check ' + x.failedCheck + ')', x.accept ? 'ok' : 'bad'); cell(tr, x.accept ? '-' : short(x.evidenceHash), 'mono');
    });
    rows($('fraud-proofs').tBodies[0], a.fraudProofs.slice(0, 50), (tr, x) => {
      cell(tr, x.height); cell(tr, short(x.prover, 12), 'mono'); cell(tr, short(x.submissionId), 'mono');
      cell(tr, x.evidenceBytes + ' B, sha256 ' + short(x.evidenceSha256), 'mono');
    });
  }

  // ---------------------------------------------------------------- refresh and live updates
  async function refreshAll() {
    const parts = [loadStatus, loadValidators, loadParticipants, loadTasks, loadActivity];
    for (const p of parts) {
      try { await p(); } catch (e) { console.warn('dashboard: ' + e.message); }
    }
  }

  function queueRefresh() {
    if (refreshQueued) return;
    refreshQueued = true;
    setTimeout(() => { refreshQueued = false; refreshAll(); }, 1000);
  }

  function connect() {
    if (!window.EventSource) { setLive(false, 'no EventSource: polling'); return; }
    const es = new EventSource('/api/events');
    es.addEventListener('open', () => setLive(true, 'live'));
    es.addEventListener('hello', (m) => { const e = JSON.parse(m.data); showHead(e.height, e.hash); });
    es.addEventListener('block', (m) => {
      const e = JSON.parse(m.data);
      showHead(e.height, e.hash); text($('head-time'), time(e.timeMs)); addBlock(e); queueRefresh();
    });
    es.addEventListener('error', () => setLive(false, 'reconnecting'));
  }

  refreshAll();
  connect();
  setInterval(refreshAll, POLL_MS);
})();
