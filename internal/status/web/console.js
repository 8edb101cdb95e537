// The console's script: live refresh of #live and the actions behind the
// admin token. The page works without it (server-rendered, current as of
// its load). Nothing here builds markup from data: the server renders and
// escapes (html/template), and messages are set with textContent.
//
// The token lives in this script's memory; with "keep for this tab" it is
// also kept in sessionStorage (gone when the tab closes). It is sent only
// as "Authorization: Bearer", never in a URL or a cookie.
(function () {
  'use strict';

  var KEY = 'cf-invalidator.console.token';
  var live = document.getElementById('live');
  var liveState = document.getElementById('live-state');
  var result = document.getElementById('action-result');
  var tokenInput = document.getElementById('token');
  var remember = document.getElementById('token-remember');
  var forget = document.getElementById('token-forget');
  if (!live) return;

  var refreshMS = parseInt(live.getAttribute('data-refresh-ms'), 10) || 5000;
  var token = '';

  function stored() {
    try { return window.sessionStorage.getItem(KEY) || ''; } catch (e) { return ''; }
  }
  function store() {
    try {
      if (remember && remember.checked && token) window.sessionStorage.setItem(KEY, token);
      else window.sessionStorage.removeItem(KEY);
    } catch (e) { /* storage unavailable: memory only */ }
  }

  if (tokenInput) {
    token = stored();
    tokenInput.value = token;
    remember.checked = token !== '';
    [tokenInput, remember, forget].forEach(function (el) { el.disabled = false; });
    tokenInput.addEventListener('input', function () { token = tokenInput.value.trim(); store(); });
    remember.addEventListener('change', store);
    forget.addEventListener('click', function () {
      token = ''; tokenInput.value = ''; remember.checked = false; store();
      say('', 'Token forgotten.');
    });
    document.getElementById('token-form').addEventListener('submit', function (e) { e.preventDefault(); });
  }

  // enable turns on the action controls the server rendered disabled.
  function enable() {
    live.querySelectorAll('form.act input, form.act button').forEach(function (el) { el.disabled = false; });
  }

  function say(outcome, text) {
    result.textContent = text;
    result.setAttribute('data-outcome', outcome);
    result.hidden = text === '';
  }

  function setLive(state, text) {
    liveState.setAttribute('data-state', state);
    liveState.textContent = text;
  }

  // Actions: a click on a [data-act] button inside form.act[data-target].
  live.addEventListener('submit', function (e) { e.preventDefault(); });
  live.addEventListener('click', function (e) {
    var button = e.target.closest('button[data-act]');
    if (!button || !live.contains(button)) return;
    e.preventDefault();
    var form = button.closest('form[data-target]');
    var reason = form.querySelector('input[name="reason"]');
    act(button.getAttribute('data-act'), form.getAttribute('data-target'), reason);
  });

  function act(action, target, reasonInput) {
    var body = { target: target };
    if (action === 'pause') body.reason = reasonInput ? reasonInput.value.trim() : '';
    var headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    var what = action + ' ' + (target || 'every distribution');
    say('pending', what + '…');
    fetch('api/' + action, {
      method: 'POST', headers: headers, body: JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', redirect: 'error'
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (j) {
        if (resp.status === 401) {
          say('unauthorized', 'Refused: the admin token is missing or wrong' + (token ? '.' : ' (enter it above).'));
        } else if (resp.status === 404) {
          say('disabled', 'Refused: actions are disabled on this worker (no admin_token configured).');
        } else if (!resp.ok) {
          say('error', 'Refused (' + resp.status + '): ' + (j.error || resp.statusText));
        } else {
          say('ok', 'Done: ' + (j.result || what) + '.');
          if (reasonInput && action === 'pause') reasonInput.value = '';
        }
      });
    }).catch(function (err) {
      say('error', what + ' failed: ' + err.message);
    }).then(refresh);
  }

  // Live refresh: reload the server-rendered live region, keeping what the
  // operator is typing and where the focus is.
  var timer = null;
  var busy = false;
  var again = false; // a refresh was asked for while one was under way

  function swap(html) {
    var values = {};
    live.querySelectorAll('input[id]').forEach(function (el) { values[el.id] = el.value; });
    var active = document.activeElement;
    var focusID = active && live.contains(active) ? active.id : '';
    var sel = focusID && active.selectionStart != null ? [active.selectionStart, active.selectionEnd] : null;

    var doc = new DOMParser().parseFromString(html, 'text/html');
    live.replaceChildren.apply(live, Array.prototype.slice.call(doc.body.childNodes));

    Object.keys(values).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && live.contains(el)) el.value = values[id];
    });
    enable();
    if (focusID) {
      var el = document.getElementById(focusID);
      if (el) {
        el.focus();
        if (sel && el.setSelectionRange) el.setSelectionRange(sel[0], sel[1]);
      }
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    again = false;
    clearTimeout(timer);
    fetch('console/fragment', { cache: 'no-store', credentials: 'omit' }).then(function (resp) {
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      return resp.text();
    }).then(function (html) {
      swap(html);
      setLive('ok', 'live · updated ' + new Date().toLocaleTimeString());
    }).catch(function (err) {
      setLive('error', 'not updating: ' + err.message);
    }).then(function () {
      busy = false;
      if (again) refresh(); else schedule();
    });
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, refreshMS);
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) refresh(); else clearTimeout(timer);
  });

  enable();
  setLive('ok', 'live · every ' + Math.round(refreshMS / 1000) + 's');
  schedule();
})();
