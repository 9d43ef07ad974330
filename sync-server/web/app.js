// app.js — the dashboard's entry: session (sign-in/out), the header, hash
// routing between the views, the language switch and live refresh.
//
// Routes: #/dashboard (default), #/customers[?search=&stage=&owner=&sort=],
// #/customers/ID[?as_of=RFC3339], #/checkins[?date=YYYY-MM-DD],
// #/duplicates (managers and admins).  The token is typed into the sign-in
// form, posted once to /api/login and dropped; from then on the HttpOnly
// session cookie authenticates every request and the /live socket.

import { api, onUnauthorized } from './js/api.js';
import { mountCustomer } from './js/customer.js';
import { mountCustomers } from './js/customers.js';
import { liveFiguresQuery, mountDashboard } from './js/dashboard.js';
import { mountCheckins, mountDuplicates } from './js/fieldwork.js';
import { $, fill, h } from './js/dom.js';
import { applyI18n, getLang, onLangChange, setLang, t } from './js/i18n.js';
import { startLive } from './js/live.js';

const REFRESH_DELAY_MS = 100;

const state = {
  me: null,
  summary: null,
  view: null,      // {update, relabel, destroy} of the mounted view
  live: null,
  refreshing: false,
  dirty: false,
  refreshTimer: null,
};

const app = {
  summary: () => state.summary,
  setSummary(s) { state.summary = s; },
  // The dashboard's team filter: /live then carries that team's figures.
  setLiveTeam(team) {
    if ((state.liveTeam || '') === team) return;
    state.liveTeam = team;
    if (state.live) state.live.reconnect();
  },
};

// ---- Session --------------------------------------------------------------

function showSignedIn(me) {
  state.me = me;
  document.body.dataset.auth = 'in';
  $('#signin').hidden = true;
  $('#main').hidden = false;
  $('#nav').hidden = false;
  $('#account').hidden = false;
  $('#nav-duplicates').hidden = !(me.role === 'manager' || me.role === 'admin');
  fill($('#who'), h('strong', { id: 'who-user' }, me.user), ' ',
    h('span', { class: 'muted', id: 'who-role', dataset: { i18n: `role.${me.role}` } }, t(`role.${me.role}`)));
  if (!state.live) {
    state.live = startLive({ onChanged: scheduleRefresh, onState: showLiveState, query: liveQuery });
  }
}

function showSignedOut() {
  state.me = null;
  state.summary = null;
  if (state.live) { state.live.stop(); state.live = null; }
  unmountView();
  document.body.dataset.auth = 'out';
  $('#main').hidden = true;
  $('#nav').hidden = true;
  $('#account').hidden = true;
  $('#signin').hidden = false;
  showLiveState('off');
  $('#token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $('#token');
  const err = $('#signin-error');
  const button = $('#signin-submit');
  const token = input.value.trim();
  err.hidden = true;
  if (!token) { input.focus(); return; }
  button.disabled = true;
  try {
    await api('/api/login', { method: 'POST', body: { token } });
    input.value = '';   // the page keeps nothing of the token
    const me = await api('/api/me');
    showSignedIn(me);
    await loadSummary();
    route();
  } catch (e) {
    err.textContent = e.status === 429 ? t('signin.busy')
      : e.status === 401 || e.status === 400 ? t('signin.bad') : t('error.load', { msg: e.message });
    err.dataset.status = e.status;
    err.hidden = false;
    input.select();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try { await api('/api/logout', { method: 'POST' }); } catch { /* signed out anyway */ }
  showSignedOut();
  history.replaceState(null, '', '#/dashboard');
}

async function loadSummary() {
  try { state.summary = await api('/api/summary'); } catch { /* views report errors */ }
}

// ---- Views ----------------------------------------------------------------

function unmountView() {
  if (state.view) state.view.destroy();
  state.view = null;
  fill($('#main'));
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/dashboard';
  const [path, qs] = raw.split('?', 2);
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(qs || '') };
}

function route() {
  if (!state.me) return;
  const { parts, params } = parseHash();
  unmountView();
  const main = $('#main');
  let name = 'dashboard';
  if (parts[0] === 'customers' && parts[1]) {
    name = 'customers';
    state.view = mountCustomer(main, app, parts[1], params);
  } else if (parts[0] === 'customers') {
    name = 'customers';
    state.view = mountCustomers(main, app, params);
  } else if (parts[0] === 'checkins') {
    name = 'checkins';
    state.view = mountCheckins(main, app, params);
  } else if (parts[0] === 'duplicates') {
    name = 'duplicates';
    state.view = mountDuplicates(main, app);
  } else {
    state.view = mountDashboard(main, app);
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  applyI18n(main);
  refresh();
}

// Refetch what the current view shows.  Live messages can come in bursts:
// one refresh runs at a time and a message during it queues exactly one
// more, so the last state is always fetched.
async function refresh() {
  if (!state.view) return;
  if (state.refreshing) { state.dirty = true; return; }
  state.refreshing = true;
  const view = state.view;
  try {
    const figures = state.liveFigures;
    state.liveFigures = null;
    await view.update(figures);
  } finally {
    state.refreshing = false;
    const main = $('#main');
    main.dataset.refreshes = String(Number(main.dataset.refreshes || 0) + 1);
    if (state.dirty) { state.dirty = false; refresh(); }
  }
}

// /live's parameters: the figures of the dashboard's team in this
// browser's zone (the query dashboard.js's fetches use).
function liveQuery() {
  return liveFiguresQuery(state.liveTeam || '');
}

function scheduleRefresh(head, figures = null) {
  document.body.dataset.head = String(head);
  state.liveFigures = figures;
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
}

function showLiveState(s) {
  const el = $('#live');
  el.dataset.state = s;
  const key = s === 'live' ? 'live.live' : s === 'connecting' ? 'live.connecting' : s === 'offline' ? 'live.offline' : null;
  el.hidden = key === null;
  const text = $('#live-text');
  if (key) { text.dataset.i18n = key; text.textContent = t(key); }
}

// ---- Start ----------------------------------------------------------------

function start() {
  const lang = $('#lang');
  lang.value = getLang();
  lang.addEventListener('change', () => setLang(lang.value));
  onLangChange(() => {
    lang.value = getLang();
    if (state.view && state.view.relabel) state.view.relabel();
    applyI18n(document);
  });
  applyI18n(document);

  $('#signin-form').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  onUnauthorized(() => { if (state.me) showSignedOut(); });

  api('/api/me')
    .then(async (me) => { showSignedIn(me); await loadSummary(); route(); })
    .catch(() => showSignedOut());
}

start();
