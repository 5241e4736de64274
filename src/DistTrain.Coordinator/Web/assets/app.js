// DistTrain live pages: one script renders /, /jobs/{id} and /workers from
// Server-Sent Events. The CSP forbids inline script, so all wiring is here.
'use strict';

(function () {
  const SAME_ORIGIN = { credentials: 'same-origin', cache: 'no-store' };
  const ACTIVE = new Set(['pending', 'running']);
  const SMOOTHING = 0.7;
  // The charts are redrawn at most this often: a running job sends up to four messages a second, and redrawing five
  // SVG charts for each took a quarter of a core from training on the same machine.
  const DRAW_INTERVAL_MS = 1000;

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root) => (root || document).querySelector(sel);

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v != null && v !== false) n.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k != null) n.append(k);
    return n;
  }

  function cell(field, content, cls, extra) {
    return el('td', Object.assign({ 'data-field': field, class: cls }, extra), content);
  }

  function mount(templateId) {
    const app = $('#app');
    app.replaceChildren($('#' + templateId).content.cloneNode(true));
  }

  function setEmpty(inner, empty) {
    const p = $('[data-empty]', inner.closest('.card'));
    if (p) p.hidden = !empty;
  }

  function markNav(which) {
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === which) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function toLogin() {
    location.href = '/login?next=' + encodeURIComponent(location.pathname);
  }

  async function errorText(res, fallback) {
    try {
      const body = await res.json();
      if (body && body.error) return String(body.error);
    } catch (_) { /* not JSON */ }
    return fallback;
  }

  // The server's clock is the reference for ages and durations, so a skewed
  // client clock does not show negative or drifting times.
  let clockOffset = 0;
  const serverNow = () => Date.now() + clockOffset;
  function syncClock(now) {
    if (typeof now === 'number' && now > 0) clockOffset = now - Date.now();
  }

  // ------------------------------------------------------------- formatting

  const isNum = v => typeof v === 'number' && isFinite(v);
  const fixed = (v, d) => (isNum(v) ? v.toFixed(d) : '—');
  const rate = v => (isNum(v) && v > 0 ? v.toFixed(0) : '—');
  const clock = t => window.DTChart.clock(t);
  const capitalize = s => (s ? s.charAt(0).toUpperCase() + s.slice(1) : '');

  function startTime(t) {
    if (!(t > 0)) return '—';
    const d = new Date(t), today = new Date();
    if (d.toDateString() === today.toDateString()) return clock(t);
    const ymd = d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
    return ymd + ' ' + clock(t).slice(0, 5);
  }

  function duration(ms) {
    if (!isNum(ms) || ms < 0) ms = 0;
    const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    if (h) return h + 'h ' + String(m).padStart(2, '0') + 'm';
    if (m) return m + 'm ' + String(sec).padStart(2, '0') + 's';
    return sec + 's';
  }

  function age(seconds) {
    if (!isNum(seconds)) return '—';
    seconds = Math.max(0, seconds);
    if (seconds < 10) return seconds.toFixed(1) + ' s ago';
    if (seconds < 120) return Math.round(seconds) + ' s ago';
    if (seconds < 7200) return Math.round(seconds / 60) + ' min ago';
    return Math.round(seconds / 3600) + ' h ago';
  }

  function bytes(n) {
    if (!isNum(n)) return '—';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  // A finished job reports world 0; "0 of 2" only means something while waiting.
  function world(j) {
    if (!(j.world > 0) && !ACTIVE.has(j.status)) return '—';
    return j.requestedWorkers && j.requestedWorkers !== j.world ? j.world + ' of ' + j.requestedWorkers : String(j.world);
  }

  function badge(status) {
    return el('span', { class: 'badge', 'data-status': status }, capitalize(status));
  }

  function progressBar(fraction, status, bar) {
    bar = bar || el('div', { class: 'bar' }, el('span'));
    const pct = Math.max(0, Math.min(1, isNum(fraction) ? fraction : 0)) * 100;
    bar.dataset.status = status;
    bar.setAttribute('role', 'progressbar');
    bar.setAttribute('aria-valuenow', pct.toFixed(0));
    bar.firstElementChild.style.width = pct.toFixed(1) + '%';
    return bar;
  }

  // ----------------------------------------------------------------- ticking

  // Cells carrying data-since (server ms) are re-rendered every second so ages
  // and running durations move between stream messages without any request.
  function tick() {
    const now = serverNow();
    for (const n of document.querySelectorAll('[data-since]')) {
      const ms = now - Number(n.dataset.since);
      n.textContent = n.dataset.tick === 'age' ? age(ms / 1000) : duration(ms);
    }
  }

  function durationCell(field, j) {
    const running = ACTIVE.has(j.status) && j.submitted > 0;
    const attrs = running ? { 'data-since': j.submitted, 'data-tick': 'duration' } : {};
    const text = duration((running ? serverNow() : j.updated) - j.submitted);
    return cell(field, j.submitted > 0 ? text : '—', 'num', attrs);
  }

  function heartbeatCell(w, now) {
    // lastHeartbeat 0 means the worker never reported, whatever the age says.
    const since = w.lastHeartbeat > 0 ? w.lastHeartbeat
      : !isNum(w.lastHeartbeat) && isNum(w.heartbeatAgeSeconds) ? now - w.heartbeatAgeSeconds * 1000 : null;
    if (since == null) return cell('heartbeat', '—', 'num');
    return cell('heartbeat', age((serverNow() - since) / 1000), 'num', { 'data-since': Math.round(since), 'data-tick': 'age' });
  }

  // --------------------------------------------------------- live streaming

  const CONNECTION_TEXT = { live: 'Live', connecting: 'Connecting…', offline: 'Offline' };

  function setConnection(state, text) {
    const n = $('#connection');
    n.dataset.state = state;
    n.textContent = text || CONNECTION_TEXT[state];
  }

  // EventSource retries on its own while readyState is CONNECTING; only when
  // the browser gives up (HTTP error, e.g. 401 after the session expired) do
  // we check the session and reopen with a bounded backoff.
  function openStream(url, handlers) {
    let source = null, failures = 0, ended = false;

    function connect() {
      setConnection('connecting');
      source = new EventSource(url);
      source.addEventListener('open', () => setConnection('live'));
      for (const name of Object.keys(handlers)) {
        source.addEventListener(name, e => {
          let data;
          try { data = JSON.parse(e.data); } catch (_) { return; }
          failures = 0;
          setConnection('live');
          syncClock(data.now);
          handlers[name](data);
        });
      }
      source.addEventListener('end', () => {
        ended = true;
        source.close();
        setConnection('live', 'Final');
      });
      source.addEventListener('error', () => {
        if (ended) return;
        if (source.readyState !== EventSource.CLOSED) { setConnection('connecting'); return; }
        recover();
      });
    }

    async function recover() {
      try {
        const res = await fetch('/api/session', SAME_ORIGIN);
        if (res.status === 401) { toLogin(); return; }
        // The session ended (a logout in another tab, a new token): the stream is refused until the user logs in again.
        const session = res.ok ? await res.json() : null;
        if (session && session.tokenRequired && !session.authenticated) { toLogin(); return; }
      } catch (_) { /* server unreachable: keep retrying */ }
      const delay = Math.min(30000, 2000 * Math.pow(2, failures++));
      setConnection('offline', 'Offline, retrying in ' + Math.round(delay / 1000) + ' s');
      setTimeout(connect, delay);
    }

    connect();
  }

  // Rows are patched in place, cell by cell: a row replaced while the pointer is on its link would swallow a click
  // whose press and release straddle the replacement, and a running job's row changes several times a second.
  function syncRows(body, items, keyOf, render) {
    const existing = new Map();
    for (const tr of body.children) if (tr.dataset.key) existing.set(tr.dataset.key, tr);
    const rows = items.map(item => {
      const fresh = render(item);
      fresh.dataset.key = keyOf(item);
      const tr = existing.get(fresh.dataset.key);
      if (!tr) return fresh;
      for (const a of fresh.attributes) if (tr.getAttribute(a.name) !== a.value) tr.setAttribute(a.name, a.value);
      const cells = [...fresh.children];
      cells.forEach((c, i) => {
        const old = tr.children[i];
        if (!old) tr.appendChild(c);
        else if (old.outerHTML !== c.outerHTML) tr.replaceChild(c, old);
      });
      while (tr.children.length > cells.length) tr.lastElementChild.remove();
      return tr;
    });
    const inOrder = rows.length === body.children.length && rows.every((tr, i) => body.children[i] === tr);
    if (!inOrder) body.replaceChildren(...rows);
  }

  // --------------------------------------------------------------- jobs page

  function jobRow(j) {
    const progress = el('div', { class: 'progress-cell' },
      progressBar(j.progress, j.status),
      el('small', null, 'Epoch ' + j.epoch + '/' + j.epochs + ' · step ' + j.step + '/' + j.stepsPerEpoch));
    return el('tr', { 'data-job': j.id, 'data-status': j.status },
      cell('id', el('a', { href: '/jobs/' + encodeURIComponent(j.id) }, j.id)),
      cell('name', j.name),
      cell('status', badge(j.status)),
      cell('progress', progress, 'col-progress'),
      cell('throughput', rate(j.samplesPerSecond), 'num'),
      cell('world', world(j), 'num'),
      cell('started', startTime(j.submitted)),
      durationCell('duration', j));
  }

  function jobsPage() {
    document.title = 'Jobs — DistTrain';
    markNav('jobs');
    mount('view-jobs');
    const body = $('#jobs-table tbody');
    openStream('/api/jobs/stream', {
      jobs(data) {
        const jobs = data.jobs || [];
        syncRows(body, jobs, j => j.id, jobRow);
        setEmpty(body, jobs.length === 0);
      }
    });
  }

  // ------------------------------------------------------------ workers page

  function workerRow(w, now) {
    const job = w.jobId ? el('a', { href: '/jobs/' + encodeURIComponent(w.jobId) }, w.jobId) : '—';
    return el('tr', { 'data-worker': w.id, 'data-status': w.status },
      cell('id', w.id),
      cell('address', w.address || '—'),
      cell('status', badge(w.status)),
      cell('job', job),
      cell('rank', isNum(w.rank) && w.rank >= 0 ? String(w.rank) : '—', 'num'),
      cell('threads', isNum(w.threads) ? String(w.threads) : '—', 'num'),
      heartbeatCell(w, now),
      cell('samplesPerSecond', rate(w.samplesPerSecond), 'num'),
      cell('note', w.note || '', 'note'));
  }

  function workersPage() {
    document.title = 'Workers — DistTrain';
    markNav('workers');
    mount('view-workers');
    const body = $('#workers-table tbody');
    openStream('/api/workers/stream', {
      workers(data) {
        const workers = data.workers || [];
        syncRows(body, workers, w => w.id, w => workerRow(w, data.now || serverNow()));
        setEmpty(body, workers.length === 0);
      }
    });
  }

  // ---------------------------------------------------------------- job page

  function ema(pts, s) {
    let v = 0;
    return pts.map((p, i) => {
      v = s * v + (1 - s) * p[1];
      return [p[0], v / (1 - Math.pow(s, i + 1))];
    });
  }

  function numberCell(field, v, decimals) {
    return cell(field, fixed(v, decimals), 'num', { 'data-value': isNum(v) ? String(v) : '' });
  }

  function epochRow(h) {
    return el('tr', { 'data-epoch': h.epoch },
      numberCell('epoch', h.epoch, 0),
      numberCell('loss', h.loss, 4),
      numberCell('accuracy', h.accuracy, 4),
      numberCell('testLoss', h.testLoss, 4),
      numberCell('testAccuracy', h.testAccuracy, 4),
      numberCell('samplesPerSecond', h.samplesPerSecond, 0),
      numberCell('seconds', h.seconds, 1));
  }

  function jobWorkerRow(w, now) {
    return el('tr', { 'data-rank': w.rank },
      cell('rank', String(w.rank), 'num'),
      cell('id', w.id),
      cell('host', w.host || w.address || '—'),
      cell('status', badge(w.status)),
      heartbeatCell(w, now),
      cell('samplesPerSecond', rate(w.samplesPerSecond), 'num'));
  }

  function where(e) {
    if (!isNum(e.epoch) || e.epoch <= 0) return '';
    return 'epoch ' + e.epoch + (isNum(e.step) && e.step > 0 ? ' · step ' + e.step : '');
  }

  function eventItem(e) {
    return el('li', { 'data-kind': e.kind },
      el('time', { datetime: new Date(e.time).toISOString() }, clock(e.time)),
      el('span', { class: 'kind' }, e.kind),
      el('span', { class: 'text' }, e.text || ''),
      where(e) ? el('span', { class: 'where' }, where(e)) : null);
  }

  function checkpointItem(c) {
    return el('li', { 'data-digest': c.digest, 'data-final': c.final ? 'true' : null },
      el('a', { class: 'download', href: c.url, download: true }, c.label || c.digest),
      c.final ? el('span', { class: 'flag' }, 'final model') : el('span'),
      el('span', { class: 'meta' }, bytes(c.bytes) + ' · ' + startTime(c.time)));
  }

  function JobPage(id) {
    this.id = id;
    this.detail = null;
    this.points = [];
    this.lastSeq = -Infinity;
    this.confirming = false;
    this.drawQueued = false;
    this.rendered = {};
    mount('view-job');
    $('#job-id').textContent = id;
    this.wireCancel();
    new ResizeObserver(() => this.queueDraw()).observe($('.charts'));
  }

  JobPage.prototype.applySeries = function (series) {
    if (!series) return;
    const incoming = series.points || [];
    if (series.reset) {
      this.points = incoming.slice();
    } else {
      for (const p of incoming) if (p.seq > this.lastSeq) this.points.push(p);
    }
    this.lastSeq = this.points.length ? this.points[this.points.length - 1].seq : -Infinity;
  };

  JobPage.prototype.apply = function (d) {
    this.applySeries(d.series);
    this.detail = d;
    this.renderHeader();
    this.renderList('history', '#epochs-table tbody', d.history, epochRow);
    this.renderList('workers', '#job-workers-table tbody', d.workers, w => jobWorkerRow(w, d.now || serverNow()), true);
    this.renderList('events', '#events-list', (d.events || []).slice().reverse(), eventItem);
    this.renderList('checkpoints', '#checkpoints-list', d.checkpoints, checkpointItem);
    this.queueDraw();
  };

  // Unchanged lists are left alone so scroll position and hover survive the
  // several updates per second a running job sends.
  JobPage.prototype.renderList = function (key, sel, items, build, always) {
    items = items || [];
    const sig = JSON.stringify(items);
    if (!always && this.rendered[key] === sig) return;
    this.rendered[key] = sig;
    const container = $(sel);
    container.replaceChildren(...items.map(build));
    setEmpty(container, items.length === 0);
  };

  JobPage.prototype.renderHeader = function () {
    const d = this.detail;
    const status = $('#job-status');
    status.dataset.status = d.status;
    status.textContent = capitalize(d.status);
    $('#job-name').textContent = d.name + (d.dataset ? ' on ' + d.dataset : '');
    progressBar(d.progress, d.status, $('#job-bar').parentNode);
    $('#job-epoch').textContent = d.epoch + ' / ' + d.epochs;
    $('#job-step').textContent = d.step + ' / ' + d.stepsPerEpoch;
    $('#job-progress').textContent = fixed((d.progress || 0) * 100, 1) + '%';
    $('#job-world').textContent = world(d) + (d.restarts ? ' (' + d.restarts + (d.restarts === 1 ? ' restart)' : ' restarts)') : '');
    $('#job-throughput').textContent = rate(d.samplesPerSecond);
    $('#job-loss').textContent = d.loss ? fixed(d.loss, 4) : '—';
    $('#job-started').textContent = startTime(d.submitted);
    const dur = durationCell('duration', d);
    const target = $('#job-duration');
    target.textContent = dur.textContent;
    if (dur.dataset.since) { target.dataset.since = dur.dataset.since; target.dataset.tick = 'duration'; }
    else { delete target.dataset.since; delete target.dataset.tick; }
    $('#job-error').textContent = d.error || '';
    this.renderCancel();
  };

  JobPage.prototype.renderCancel = function () {
    const d = this.detail;
    const can = !!d && ACTIVE.has(d.status) && d.canCancel === true;
    if (!can) this.confirming = false;
    $('#cancel-button').hidden = !can || this.confirming;
    $('#cancel-confirm-box').hidden = !can || !this.confirming;
    $('#cancel-confirm').textContent = 'Cancel ' + this.id + '?';
  };

  JobPage.prototype.wireCancel = function () {
    const confirmBtn = $('#cancel-confirm');
    $('#cancel-button').addEventListener('click', () => {
      $('#action-error').textContent = '';
      this.confirming = true;
      this.renderCancel();
      confirmBtn.focus();
    });
    $('#cancel-keep').addEventListener('click', () => {
      this.confirming = false;
      this.renderCancel();
      $('#cancel-button').focus();
    });
    confirmBtn.addEventListener('click', () => this.cancel(confirmBtn));
  };

  JobPage.prototype.cancel = async function (button) {
    button.disabled = true;
    try {
      const res = await fetch('/api/jobs/' + encodeURIComponent(this.id) + '/cancel', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-DistTrain-Action': 'cancel' }
      });
      if (!res.ok) {
        $('#action-error').textContent = await errorText(res, 'Cancel failed (HTTP ' + res.status + ')');
      } else {
        let summary = null;
        try { summary = await res.json(); } catch (_) { /* the stream will catch up */ }
        if (summary && summary.id === this.id && this.detail) {
          Object.assign(this.detail, summary);
        }
      }
    } catch (_) {
      $('#action-error').textContent = 'Cancel failed: the coordinator could not be reached.';
    } finally {
      button.disabled = false;
      this.confirming = false;
      if (this.detail) this.renderHeader();
    }
  };

  JobPage.prototype.queueDraw = function () {
    if (this.drawQueued) return;
    this.drawQueued = true;
    const wait = Math.max(0, (this.lastDraw || 0) + DRAW_INTERVAL_MS - Date.now());
    setTimeout(() => requestAnimationFrame(() => {
      this.drawQueued = false;
      this.lastDraw = Date.now();
      this.drawCharts();
    }), wait);
  };

  JobPage.prototype.drawCharts = function () {
    const d = this.detail;
    if (!d) return;
    const pts = this.points;
    const events = d.events || [];
    const markers = events.map(e => ({ x: e.time, kind: e.kind, title: clock(e.time) + ' ' + e.kind + ': ' + (e.text || '') }));
    const times = pts.map(p => p.t).concat(events.map(e => e.time)).filter(isNum);
    const xDomain = times.length ? [Math.min(...times), Math.max(...times)] : null;
    const timeChart = (sel, series, hover, zero) =>
      window.DTChart.draw($(sel), { time: true, xDomain, markers, series, hover, zero });

    const loss = pts.filter(p => isNum(p.loss)).map(p => [p.t, p.loss]);
    const smooth = ema(loss, SMOOTHING);
    timeChart('#loss-chart', [{ type: 'raw', cls: 's1', pts: loss }, { type: 'line', cls: 's1', pts: smooth }],
      [{ name: 'smoothed', cls: 's1', pts: smooth, fmt: v => v.toFixed(4) }, { name: 'loss', cls: 's1', pts: loss, fmt: v => v.toFixed(4) }]);
    $('#loss-chart').setAttribute('data-points', String(loss.length));

    const tp = pts.filter(p => p.samplesPerSecond > 0).map(p => [p.t, p.samplesPerSecond]);
    timeChart('#throughput-chart', [{ type: 'line', cls: 's1', pts: tp }],
      [{ name: 'samples/s', cls: 's1', pts: tp, fmt: v => v.toFixed(0) }], true);

    const steps = pts.filter(p => p.stepSeconds > 0);
    const compute = steps.map(p => [p.t, Math.max(0, p.stepSeconds - (p.allreduceSeconds || 0)) * 1000, 0]);
    const total = steps.map((p, i) => [p.t, compute[i][1] + (p.allreduceSeconds || 0) * 1000, compute[i][1]]);
    const allreduce = steps.map(p => [p.t, (p.allreduceSeconds || 0) * 1000]);
    timeChart('#steptime-chart', [
      { type: 'band', cls: 's3', pts: compute }, { type: 'band', cls: 's4', pts: total },
      { type: 'line', cls: 's3', pts: compute }, { type: 'line', cls: 's4', pts: total }
    ], [{ name: 'compute ms', cls: 's3', pts: compute, fmt: v => v.toFixed(1) },
      { name: 'allreduce ms', cls: 's4', pts: allreduce, fmt: v => v.toFixed(1) }], true);

    const history = d.history || [];
    const per = key => history.filter(h => isNum(h[key])).map(h => [h.epoch, h[key]]);
    const epochChart = (sel, a, b) => window.DTChart.draw($(sel), {
      empty: 'No epoch finished yet',
      series: [{ type: 'dots', cls: 's1', pts: per(a) }, { type: 'dots', cls: 's2', pts: per(b) }],
      hover: [{ name: 'train', cls: 's1', pts: per(a), fmt: v => v.toFixed(4) }, { name: 'test', cls: 's2', pts: per(b), fmt: v => v.toFixed(4) }]
    });
    epochChart('#epoch-loss-chart', 'loss', 'testLoss');
    epochChart('#epoch-accuracy-chart', 'accuracy', 'testAccuracy');
  };

  async function jobPage(id) {
    document.title = id + ' — DistTrain';
    markNav('jobs');
    let first = null;
    try {
      const res = await fetch('/api/jobs/' + encodeURIComponent(id), SAME_ORIGIN);
      if (res.status === 401) { toLogin(); return; }
      if (res.status === 404) { errorPage(await errorText(res, 'No job ' + id)); return; }
      if (res.ok) first = await res.json();
    } catch (_) { /* the stream below reports connectivity */ }
    const page = new JobPage(id);
    if (first) { syncClock(first.now); page.apply(first); }
    openStream('/api/jobs/' + encodeURIComponent(id) + '/stream', { job: d => page.apply(d) });
  }

  function errorPage(text) {
    mount('view-error');
    $('#page-error').textContent = text;
    setConnection('offline', 'Not streaming');
  }

  // ------------------------------------------------------------------- boot

  async function session() {
    try {
      const res = await fetch('/api/session', SAME_ORIGIN);
      if (res.status === 401) { toLogin(); return; }
      if (!res.ok) return;
      const s = await res.json();
      if (s.tokenRequired && !s.authenticated) { toLogin(); return; }
      $('#logout-button').hidden = !s.tokenRequired;
    } catch (_) { /* the stream shows the connection state */ }
  }

  function wireLogout() {
    $('#logout-button').addEventListener('click', async () => {
      try {
        await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-DistTrain-Action': 'logout' } });
      } finally {
        location = '/login';
      }
    });
  }

  function route() {
    const path = location.pathname;
    const job = /^\/jobs\/([^/]+)\/?$/.exec(path);
    if (path === '/' || path === '') jobsPage();
    else if (path === '/workers' || path === '/workers/') workersPage();
    else if (job) jobPage(decodeURIComponent(job[1]));
    else { document.title = 'Not found — DistTrain'; errorPage('No page at ' + path); }
  }

  wireLogout();
  session();
  route();
  setInterval(tick, 1000);
})();
