// Minke admin: selection helpers, stop buttons and the live view of a run.
// Plain JavaScript, no build step; served as a static file (no inline scripts).
(function () {
  'use strict';

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute('content') : '';
  var OUTPUT_CHARS = 4000;
  var OUTPUT_LINES = 20;
  var MESSAGES_SHOWN = 20;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // --- changelist selection -------------------------------------------------
  var selectPage = $('#select-page');
  if (selectPage) {
    selectPage.addEventListener('change', function () {
      $$('input.select-row').forEach(function (cb) { cb.checked = selectPage.checked; });
    });
  }
  var allMatching = $('#select-all-matching');
  if (allMatching) {
    allMatching.addEventListener('change', function () {
      if (allMatching.checked) {
        $$('input.select-row').forEach(function (cb) { cb.checked = true; });
        if (selectPage) { selectPage.checked = true; }
      }
    });
  }

  // --- stop buttons ---------------------------------------------------------
  function stopClicked(ev) {
    var btn = ev.target.closest('button.stop, #stop-all');
    if (!btn) { return; }
    ev.preventDefault();
    var url = btn.getAttribute('data-url');
    btn.disabled = true;
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Accept': 'application/json' }
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    }).then(function (res) {
      if (!res.ok) {
        btn.disabled = false;
        btn.title = res.body.error || 'could not stop';
        note(res.body.error || 'could not stop');
        return;
      }
      if (res.body.level >= 2) {
        btn.textContent = 'Stopping now…';
        btn.classList.add('stopping-now');
      } else {
        btn.textContent = btn.id === 'stop-all' ? 'Stop all now' : 'Stop now';
        btn.classList.add('stopping');
        btn.disabled = false;
      }
    }).catch(function () {
      btn.disabled = false;
      note('the server did not answer');
    });
  }
  document.addEventListener('click', stopClicked);

  function note(text) {
    var n = $('#live-note');
    if (n) { n.textContent = text; }
  }

  // --- live view ------------------------------------------------------------
  var panel = $('#run-panel');
  if (!panel || !window.EventSource) { return; }
  var base = document.body.getAttribute('data-base') || '';
  var sessions = {};   // id -> {state, status, object_id, messages, output, command, row}
  var pending = {};
  var scheduled = false;
  var es = null;

  function rank(state) {
    if (state === 'initialized') { return 0; }
    if (state === 'running') { return 1; }
    return 2;
  }

  function rowFor(s) {
    if (s.row && s.row.isConnected) { return s.row; }
    var row = $('tr[data-session-id="' + s.id + '"]');
    if (!row) {
      row = $('tr[data-object-id="' + s.object_id + '"]');
      if (row && row.closest('#changelist')) { row.setAttribute('data-session-id', s.id); } else { row = null; }
    }
    s.row = row;
    return row;
  }

  function badge(cls, value) {
    var span = document.createElement('span');
    span.className = cls + (value ? ' ' + cls + '-' + value : '');
    span.textContent = value || '';
    return span;
  }

  function render(s) {
    var row = rowFor(s);
    if (!row) { return; }
    var stateCell = $('.state-cell', row);
    var statusCell = $('.status-cell', row);
    if (stateCell) { stateCell.replaceChildren(badge('state', s.state)); }
    if (statusCell) {
      var st = s.status || (s.state === 'failed' ? 'error' : '');
      statusCell.replaceChildren(badge('status', st));
      if (s.reason) { statusCell.title = s.reason; }
    }
    row.classList.remove('row-success', 'row-warning', 'row-error', 'row-running', 'row-stopped');
    var status = s.status || (s.state === 'failed' ? 'error' : null);
    if (s.state === 'stopped' || s.state === 'canceled') {
      row.classList.add('row-stopped');
    } else if (rank(s.state) === 2 && status) {
      row.classList.add('row-' + status);
    }
    if (s.state === 'running') { row.classList.add('row-running'); }
    var last = $('.last-session', row);
    if (last) {
      var a = document.createElement('a');
      a.className = 'last-status-link';
      a.href = s.url;
      a.appendChild(s.state === 'completed' ? badge('status', s.status) : badge('state', s.state));
      last.replaceChildren(a);
    }

    var msgCell = $('.messages', row);
    if (msgCell) {
      var ul = document.createElement('ul');
      ul.className = 'message-list';
      if (s.earlier > 0) {
        var more = document.createElement('li');
        more.className = 'more';
        more.textContent = '… ' + s.earlier + ' earlier';
        ul.appendChild(more);
      }
      s.messages.slice(-MESSAGES_SHOWN).forEach(function (m) {
        var li = document.createElement('li');
        li.className = 'message level-' + m.level;
        li.textContent = m.text;
        ul.appendChild(li);
      });
      msgCell.replaceChildren(ul);
    }

    var outCell = $('.output-cell', row);
    if (outCell) {
      var pre = $('pre.output', outCell);
      if (!pre) {
        pre = document.createElement('pre');
        pre.className = 'output';
        outCell.appendChild(pre);
      }
      var parts = [];
      if (s.command) {
        var cmd = document.createElement('span');
        cmd.className = 'command-line';
        cmd.textContent = '$ ' + s.command + '\n';
        parts.push(cmd);
      }
      var lines = s.output.split('\n');
      var text = lines.slice(-OUTPUT_LINES).join('\n');
      var out = document.createElement('span');
      out.className = 'out';
      out.textContent = text;
      parts.push(out);
      pre.replaceChildren.apply(pre, parts);
      pre.hidden = !s.command && !s.output;
      var link = $('a.log-link', outCell);
      if (!link && s.url) {
        link = document.createElement('a');
        link.className = 'log-link';
        link.href = s.url;
        link.textContent = 'full log';
        outCell.appendChild(link);
      }
    }

    var stopCell = $('.stop-cell', row);
    if (stopCell) {
      var btn = $('button.stop', stopCell);
      if (!btn && rank(s.state) < 2) {
        btn = document.createElement('button');
        btn.type = 'submit';
        btn.className = 'stop';
        btn.textContent = 'Stop';
        var url = base + '/runs/' + panel.getAttribute('data-run-id') + '/sessions/' + s.id + '/stop';
        btn.setAttribute('data-url', url);
        btn.setAttribute('formaction', url);
        stopCell.appendChild(btn);
      }
      if (btn) { btn.hidden = rank(s.state) === 2; }
    }
  }

  function schedule(id) {
    pending[id] = true;
    if (scheduled) { return; }
    scheduled = true;
    window.requestAnimationFrame(function () {
      scheduled = false;
      var ids = Object.keys(pending);
      pending = {};
      ids.forEach(function (i) { if (sessions[i]) { render(sessions[i]); } });
      counts();
    });
  }

  function counts() {
    var c = { total: 0, waiting: 0, running: 0, done: 0, success: 0, warning: 0, error: 0 };
    Object.keys(sessions).forEach(function (k) {
      var s = sessions[k];
      c.total += 1;
      var r = rank(s.state);
      if (r === 0) { c.waiting += 1; } else if (r === 1) { c.running += 1; } else { c.done += 1; }
      var status = s.status || (s.state === 'failed' ? 'error' : null);
      if (status && c[status] !== undefined) { c[status] += 1; }
    });
    Object.keys(c).forEach(function (k) {
      var el = $('#count-' + k);
      if (el) { el.textContent = String(c[k]); }
    });
  }

  function trimOutput(text) {
    return text.length > OUTPUT_CHARS ? text.slice(text.length - OUTPUT_CHARS) : text;
  }

  function onSnapshot(data) {
    var snap = JSON.parse(data);
    var old = sessions;
    sessions = {};
    snap.sessions.forEach(function (v) {
      var s = {
        id: v.id, object_id: v.object_id, state: v.state, status: v.status, reason: v.reason,
        messages: v.messages, earlier: v.earlier_messages, command: v.command, url: v.url,
        output: trimOutput(v.output.map(function (p) { return p.text; }).join('')),
        row: old[v.id] ? old[v.id].row : null
      };
      var prev = old[v.id];
      if (prev && rank(prev.state) > rank(s.state)) {
        s.state = prev.state; s.status = prev.status; s.reason = prev.reason;
      }
      if (prev && !v.command && v.output.length === 0) { s.output = prev.output; s.command = prev.command; }
      sessions[v.id] = s;
      schedule(v.id);
    });
    setRunState(snap.active ? 'running' : snap.run.state);
    var stopAll = $('#stop-all');
    if (stopAll) { stopAll.hidden = !snap.active; }
    note(lagText);
  }

  // Said after a `lagged` event, and kept over the snapshot that follows it.
  var lagText = '';
  function sizeText(n) {
    if (n >= 1048576) { return (n / 1048576).toFixed(1) + ' MiB'; }
    if (n >= 1024) { return (n / 1024).toFixed(1) + ' KiB'; }
    return n + ' bytes';
  }
  function onLagged(data) {
    var d = JSON.parse(data);
    lagText = 'This page fell behind and skipped ' + (d.exact ? '' : 'at least ') +
      sizeText(d.skipped_bytes) + ' of output; it shows the latest now. ' +
      'Each session\'s page has its whole output.';
    note(lagText);
  }

  function setRunState(state) {
    var el = $('#run-state');
    if (el) {
      el.textContent = state;
      el.className = 'run-state run-state-' + state;
    }
    panel.setAttribute('data-run-state', state);
  }

  function withSession(data, fn) {
    var d = JSON.parse(data);
    var s = sessions[d.session_id];
    if (!s) {
      s = sessions[d.session_id] = {
        id: d.session_id, object_id: null, state: 'initialized', status: null, reason: null,
        messages: [], earlier: 0, command: null, output: '', url: base + '/sessions/' + d.session_id, row: null
      };
    }
    fn(s, d);
    schedule(d.session_id);
  }

  function connect() {
    es = new EventSource(panel.getAttribute('data-events-url'));
    es.addEventListener('snapshot', function (e) { onSnapshot(e.data); });
    es.addEventListener('state', function (e) {
      withSession(e.data, function (s, d) {
        if (rank(d.state) >= rank(s.state)) {
          s.state = d.state; s.status = d.status; s.reason = d.reason;
        }
        if (rank(d.state) === 2) { s.command = null; }
      });
    });
    es.addEventListener('command', function (e) {
      withSession(e.data, function (s, d) { s.command = d.command; s.output = ''; });
    });
    es.addEventListener('output', function (e) {
      withSession(e.data, function (s, d) { s.output = trimOutput(s.output + d.text); });
    });
    es.addEventListener('message', function (e) {
      withSession(e.data, function (s, d) {
        s.messages.push({ level: d.level, text: d.text });
        if (s.messages.length > 200) { s.messages.shift(); s.earlier += 1; }
      });
    });
    es.addEventListener('run_finished', function () {
      setRunState('finished');
      var stopAll = $('#stop-all');
      if (stopAll) { stopAll.hidden = true; }
      $$('button.stop').forEach(function (b) { b.hidden = true; });
      es.close();
    });
    es.addEventListener('lagged', function (e) { onLagged(e.data); });
    es.addEventListener('failure', function (e) {
      note(JSON.parse(e.data).message);
      es.close();
    });
    es.onerror = function () { note('reconnecting…'); };
  }
  connect();
})();

// --- relation autocomplete ------------------------------------------------------
// A relation field is a number input (the id, enough without JavaScript) with a
// search box beside it: typing asks the server for matching objects a page at a
// time, picking one fills in its id and shows its label. A relation given by name
// (`relation-name`, the host form's jump host) is its own search box: picking puts
// the object's label in it, which the server resolves. A search that adds names to a
// list (`relation-append`, the group form's hosts to add) is hidden until this script
// shows it: picking adds the label as a line of its text area, once.
(function () {
  'use strict';
  var DELAY_MS = 200;

  function show(box, results, data, onPick, onMore) {
    results.textContent = '';
    data.results.forEach(function (c) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'relation-choice';
      b.setAttribute('role', 'option');
      b.setAttribute('data-id', String(c.id));
      b.textContent = c.label + ' (' + c.id + ')';
      b.addEventListener('click', function () { onPick(c); });
      results.appendChild(b);
    });
    if (data.results.length === 0) {
      var none = document.createElement('span');
      none.className = 'relation-none';
      none.textContent = 'nothing matches';
      results.appendChild(none);
    }
    if (data.more) {
      var more = document.createElement('button');
      more.type = 'button';
      more.className = 'relation-more';
      more.textContent = 'more…';
      more.addEventListener('click', onMore);
      results.appendChild(more);
    }
  }

  Array.prototype.slice.call(document.querySelectorAll('input.relation-search')).forEach(function (box) {
    var target = document.getElementById(box.getAttribute('data-target'));
    var name = target ? target.name : '';
    var label = document.getElementById('label-' + name);
    var results = document.getElementById('results-' + name);
    if (!target || !results) { return; }
    var byName = box.classList.contains('relation-name');
    var append = box.classList.contains('relation-append');
    var timer = null;
    var page = 1;
    var asked = 0;

    function pick(c) {
      if (append) {
        var listed = target.value.split(/[\n,]/).map(function (n) { return n.trim(); });
        if (listed.indexOf(c.label) < 0) {
          var text = target.value.replace(/\s+$/, '');
          target.value = (text ? text + '\n' : '') + c.label + '\n';
        }
        box.value = '';
        box.focus();
      } else if (byName) {
        box.value = c.label;
      } else {
        target.value = String(c.id);
        if (label) { label.textContent = c.label; }
        box.value = '';
      }
      results.textContent = '';
    }

    function ask() {
      var n = ++asked;
      var url = box.getAttribute('data-choices') + '?q=' + encodeURIComponent(box.value) + '&page=' + page;
      fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (r) {
          if (!r.ok) { throw new Error('the server answered ' + r.status); }
          return r.json();
        })
        .then(function (data) {
          if (n !== asked) { return; }
          show(box, results, data, pick, function () { page += 1; ask(); });
        })
        .catch(function (e) { results.textContent = 'search failed: ' + e.message; });
    }

    box.addEventListener('input', function () {
      clearTimeout(timer);
      page = 1;
      timer = setTimeout(ask, DELAY_MS);
    });
    box.addEventListener('focus', function () { if (!results.hasChildNodes()) { page = 1; ask(); } });
    if (append) {
      var wrap = box.closest('.relation');
      if (wrap) { wrap.hidden = false; }
    } else if (!byName) {
      target.addEventListener('input', function () { if (label) { label.textContent = ''; } });
    }
  });
})();
