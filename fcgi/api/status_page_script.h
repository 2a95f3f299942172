// The index page's style and script, inline so the page needs nothing but this host (no
// CDN, works offline). The script polls /api/status every second and updates the elements
// status_page.cc rendered in place, found by their ids and data- attributes: an element
// stays the same one from poll to poll, so a bar an operator watches moves rather than
// being redrawn. It writes text with textContent and attributes with setAttribute only, so a
// build name can never become markup. Its formatting repeats status_page.cc's.
#pragma once

namespace devserver {

inline constexpr const char* kStatusPageStyle = R"css(
body { font-family: sans-serif; margin: 1em 2em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { text-align: left; padding: 0.15em 0.6em; border-bottom: 1px solid #ddd; }
tr.build th { background: #f0f0f0; padding-top: 0.5em; }
span.used { font-weight: normal; color: #666; margin-left: 1em; }
td.state.staged { color: #1a7f37; }
td.state.staging { color: #0550ae; }
td.state.failed, td.cause { color: #b3261e; }
progress { width: 12em; vertical-align: middle; }
td.state.failed + td.progress progress { visibility: hidden; }  /* no progress to show */
/* Room for the longest text of a column, so the table keeps its shape as states change. */
#builds td.progress { min-width: 28em; }
#builds td.rate { min-width: 7em; }
#builds td.eta { min-width: 6em; }
#live { color: #666; }
)css";

inline constexpr const char* kStatusPageScript = R"js(
(function () {
  'use strict';
  var POLL_MS = 1000;
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    var k = 0, unit = 1;
    while (k + 1 < UNITS.length && n >= unit * 1024) { unit *= 1024; k++; }
    var tenths = Math.floor(n * 10 / unit);
    return Math.floor(tenths / 10) + '.' + (tenths % 10) + ' ' + UNITS[k];
  }
  function formatDuration(s) {
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function formatUtc(t) {
    return new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }
  function percent(done, total) { return total > 0 ? Math.floor(done * 100 / total) : 0; }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text) { if (e.textContent !== text) e.textContent = text; }
  // The child of `parent` whose `attr` is `value`: compared as strings, never as a selector.
  function childWith(parent, attr, value) {
    for (var c = parent.firstElementChild; c; c = c.nextElementSibling) {
      if (c.getAttribute(attr) === value) return c;
    }
    return null;
  }

  function bytesText(a) {
    if (a.state === 'staged' && a.bytes_total !== null) return formatBytes(a.bytes_total);
    if (a.state !== 'staging') return '';
    if (a.bytes_total === null) return a.bytes_done > 0 ? formatBytes(a.bytes_done) : '';
    return formatBytes(a.bytes_done) + ' of ' + formatBytes(a.bytes_total) + ' (' +
        percent(a.bytes_done, a.bytes_total) + ' %)';
  }
  function causeText(a) {
    if (a.state === 'failed') return a.error || '';
    if (a.state === 'staging' && a.error) return 'retrying: ' + a.error;
    return '';
  }
  function setProgress(bar, a) {
    var total = a.bytes_total || 0, max = 1, value = 0;
    if (a.state === 'staged') {
      max = total > 0 ? total : 1;
      value = max;
    } else if (a.state === 'staging') {
      if (total <= 0) {
        bar.removeAttribute('value');
        bar.removeAttribute('max');
        setText(bar, '');
        return;
      }
      max = total;
      value = Math.min(a.bytes_done, total);
    }
    bar.max = max;  // before the value, which the bar clamps to its max
    bar.value = value;
    setText(bar, percent(value, max) + ' %');
  }

  function artifactRow(key, name) {
    var row = el('tr');
    row.setAttribute('data-artifact', key);
    row.appendChild(el('td', 'artifact', name));
    row.appendChild(el('td', 'state'));
    var cell = el('td', 'progress');
    var bar = el('progress');
    bar.setAttribute('data-artifact', key);
    cell.appendChild(bar);
    cell.appendChild(document.createTextNode(' '));
    cell.appendChild(el('span', 'bytes'));
    row.appendChild(cell);
    row.appendChild(el('td', 'rate'));
    row.appendChild(el('td', 'eta'));
    row.appendChild(el('td', 'cause'));
    return row;
  }
  function fillArtifact(row, a) {
    var state = row.querySelector('td.state');
    setText(state, a.state);
    state.className = 'state ' + a.state;
    setProgress(row.querySelector('progress'), a);
    setText(row.querySelector('span.bytes'), bytesText(a));
    setText(row.querySelector('td.rate'),
        a.rate_bytes_per_s === null ? '' : formatBytes(a.rate_bytes_per_s) + '/s');
    setText(row.querySelector('td.eta'), a.eta_s === null ? '' : formatDuration(a.eta_s));
    setText(row.querySelector('td.cause'), causeText(a));
  }
  function buildBody(name) {
    var body = el('tbody');
    body.setAttribute('data-build', name);
    var head = el('tr', 'build');
    head.setAttribute('data-build', name);
    var th = el('th');
    th.colSpan = 6;
    var link = el('a', '', name);
    link.setAttribute('href', '/static/' + name + '/');
    th.appendChild(link);
    th.appendChild(document.createTextNode(' '));
    th.appendChild(el('span', 'used'));
    head.appendChild(th);
    body.appendChild(head);
    return body;
  }
  // Moves existing bodies and rows into the answer's order (appendChild moves a node), makes
  // the new ones and drops the ones gone.
  function updateBuilds(builds) {
    var table = document.getElementById('builds');
    var keep = [];
    builds.forEach(function (b) {
      var body = childWith(table, 'data-build', b.build) || buildBody(b.build);
      table.appendChild(body);
      keep.push(body);
      setText(body.querySelector('span.used'), 'used ' + formatUtc(b.last_used_at));
      var rows = [body.firstElementChild];
      b.artifacts.forEach(function (a) {
        var key = b.build + '/' + a.name;
        var row = childWith(body, 'data-artifact', key) || artifactRow(key, a.name);
        body.appendChild(row);
        rows.push(row);
        fillArtifact(row, a);
      });
      Array.prototype.slice.call(body.children).forEach(function (r) {
        if (rows.indexOf(r) < 0) body.removeChild(r);
      });
    });
    Array.prototype.slice.call(table.tBodies).forEach(function (body) {
      if (keep.indexOf(body) < 0) table.removeChild(body);
    });
    document.getElementById('no-builds').hidden = builds.length > 0;
  }

  function replaceRows(body, rows) {
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (cells) {
      var row = el('tr');
      cells.forEach(function (text) { row.appendChild(el('td', '', String(text))); });
      body.appendChild(row);
    });
  }
  function noteRow(body, text) {
    var row = el('tr');
    var cell = el('td', '', text);
    cell.colSpan = 5;
    row.appendChild(cell);
    body.appendChild(row);
  }
  function updateQueue(s) {
    var body = document.querySelector('#queue tbody');
    replaceRows(body, s.queue.map(function (q, i) {
      return [i + 1, q.build, q.artifact, q.priority === 0 ? 'foreground' : 'background',
              formatDuration(Math.max(s.generated_at - q.requested_at, 0))];
    }));
    if (s.queue.length === 0) noteRow(body, 'Nothing queued.');
    var more = s.totals.queued - s.queue.length;
    if (more > 0) noteRow(body, 'and ' + more + ' more');
  }
  function updateOmaha(events) {
    var section = document.getElementById('omaha');
    section.hidden = events.length === 0;
    replaceRows(section.querySelector('tbody'), events.map(function (e) {
      return [formatUtc(e.timestamp), e.ip, e.board, e.track, e.version, e.description];
    }));
  }
  function updateSummary(s) {
    var d = s.disk, t = s.totals;
    function set(key, text) { setText(document.querySelector('[data-summary="' + key + '"]'), text); }
    set('disk', formatBytes(d.free_bytes) + ' free of ' + formatBytes(d.total_bytes) + ' (' +
        percent(d.free_bytes, d.total_bytes) + ' %)');
    set('cache', formatBytes(d.cache_bytes) + ' staged' + (d.max_cache_bytes !== null ?
        ' of at most ' + formatBytes(d.max_cache_bytes) : ', no size limit'));
    set('budget', (d.min_free_percent > 0 ? 'keep ' + d.min_free_percent + ' % free (' +
        formatBytes(d.min_free_bytes) + ')' : 'no free-space floor') + (d.bytes_to_free > 0 ?
        '; over budget by ' + formatBytes(d.bytes_to_free) +
        ': eviction frees it from the least recently used builds' : '; within budget'));
    set('work', t.staging + ' staging (' + formatBytes(t.in_flight_bytes) +
        ' downloaded so far), ' + t.queued + ' queued, ' + t.failed + ' failed');
  }

  function update(s) {
    setText(document.getElementById('generated-at'), formatUtc(s.generated_at));
    updateSummary(s);
    updateBuilds(s.builds);
    updateQueue(s);
    updateOmaha(s.omaha_events);
  }
  function live(text) { setText(document.getElementById('live'), text); }

  // One request at a time: the next is asked for a second after the last answer.
  function poll() {
    fetch('/api/status', {cache: 'no-store'})
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (s) {
        update(s);
        live('Updates itself every second.');
      })
      .catch(function (e) { live('Not updating (' + e.message + '); trying again.'); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
)js";

}  // namespace devserver
