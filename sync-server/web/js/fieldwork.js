// fieldwork.js — two views of the reps' work in the field:
//   #/checkins?date=YYYY-MM-DD   one day's check-ins (拜访签到) per rep, in
//                                time order, with address, coordinates and
//                                a map link (GET /api/checkins);
//   #/duplicates                 suspected duplicate customers across reps
//                                (撞单, GET /api/duplicates; managers and
//                                admins).
// Nothing is fetched from a map service: the link is plain text/URL for a
// person to open.

import { api, query } from './api.js';
import { h, fill } from './dom.js';
import { fmtTime } from './format.js';
import { methodLabel, t } from './i18n.js';

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; }
}

// Today in the browser's zone, as YYYY-MM-DD.
function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// The check-in's place as text: the address, then the coordinates.
export function placeText(loc) {
  if (!loc) return '';
  const parts = [];
  if (loc.address) parts.push(loc.address);
  if (typeof loc.lat === 'number' && typeof loc.lon === 'number') parts.push(`(${loc.lat}, ${loc.lon})`);
  return parts.join(' ');
}

export function mapUrl(lat, lon) {
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`;
}

export function mountCheckins(root, app, params) {
  let date = params.get('date') || today();
  const input = h('input', { type: 'date', id: 'checkin-date', name: 'date', value: date });
  const label = h('label', { for: 'checkin-date', dataset: { i18n: 'checkins.date' } }, t('checkins.date'));
  const form = h('form', { class: 'asof', id: 'checkin-form' }, label, input,
    h('button', { type: 'submit', dataset: { i18n: 'checkins.show' } }, t('checkins.show')));
  const status = h('p', { class: 'status', id: 'checkin-status', role: 'status' }, t('loading'));
  const body = h('div', { id: 'checkin-body' });
  const view = h('div', { class: 'view checkins', id: 'view-checkins' },
    h('div', { class: 'sheet-head' }, h('h1', { dataset: { i18n: 'checkins.title' } }, t('checkins.title')), form),
    status, body);
  fill(root, view);
  let data = null;
  let seq = 0;

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!input.value) return;
    date = input.value;
    history.replaceState(null, '', `#/checkins${query({ date })}`);
    update();
  });

  function render() {
    if (!data) return;
    view.dataset.date = data.date || '';
    const reps = data.reps || [];
    fill(body, reps.length === 0 ? h('p', { class: 'empty', id: 'checkin-none', dataset: { i18n: 'checkins.none' } }, t('checkins.none'))
      : reps.map((r) => h('section', { class: 'card wide', dataset: { rep: r.user } },
        h('h2', null, r.user, h('span', { class: 'muted' }, ` · ${t('checkins.count', { n: r.checkins.length })}`)),
        h('div', { class: 'scroll-x' }, h('table', { class: 'data' },
          h('thead', null, h('tr', null,
            ...['col.at', 'field.customer', 'col.method', 'checkins.address', 'checkins.coords', 'checkins.map']
              .map((k) => h('th', { scope: 'col', dataset: { i18n: k } }, t(k))))),
          h('tbody', null, r.checkins.map((c) => h('tr', {
            dataset: { checkin: c.id, at: c.at, lat: c.lat ?? '', lon: c.lon ?? '' },
          },
          h('td', null, h('time', { datetime: c.at }, fmtTime(c.at))),
          h('td', null, h('a', { href: `#/customers/${encodeURIComponent(c.customer)}` }, c.customer_name || c.customer)),
          h('td', null, methodLabel(c.method)),
          h('td', { class: 'address' }, c.address || ''),
          h('td', { class: 'coords' }, typeof c.lat === 'number' ? `${c.lat}, ${c.lon}` : ''),
          h('td', null, c.map ? h('a', { href: c.map, rel: 'noopener noreferrer', target: '_blank', class: 'map' }, t('checkins.open')) : '')))))))));
  }

  async function update() {
    const my = ++seq;
    const zone = browserZone();
    try {
      let d;
      try {
        d = await api(`/api/checkins${query({ date, tz: zone || null })}`);
      } catch (e) {
        if (e.status !== 400 || !zone) throw e;
        d = await api(`/api/checkins${query({ date })}`);  // a zone the server does not know
      }
      if (my !== seq) return;
      data = d;
      status.textContent = '';
      status.classList.remove('error');
      render();
    } catch (e) {
      if (e.status === 401 || my !== seq) return;
      data = null;
      fill(body);
      status.textContent = t('error.load', { msg: e.message });
      status.classList.add('error');
    }
  }

  return { update, relabel: render, destroy() {} };
}

export function mountDuplicates(root, app) {
  const status = h('p', { class: 'status', id: 'dup-status', role: 'status' }, t('loading'));
  const body = h('div', { id: 'dup-body' });
  const view = h('div', { class: 'view duplicates', id: 'view-duplicates' },
    h('h1', { dataset: { i18n: 'dups.title' } }, t('dups.title')),
    h('p', { class: 'muted', dataset: { i18n: 'dups.lead' } }, t('dups.lead')),
    status, body);
  fill(root, view);
  let data = null;
  let seq = 0;

  function render() {
    if (!data) return;
    const list = data.duplicates || [];
    fill(body, list.length === 0 ? h('p', { class: 'empty', id: 'dup-none', dataset: { i18n: 'dups.none' } }, t('dups.none'))
      : h('section', { class: 'card wide' }, h('div', { class: 'scroll-x' }, h('table', { class: 'data', id: 'dup-table' },
        h('thead', null, h('tr', null, ...['dups.kind', 'dups.value', 'dups.customers']
          .map((k) => h('th', { scope: 'col', dataset: { i18n: k } }, t(k))))),
        h('tbody', null, list.map((d) => h('tr', { dataset: { kind: d.kind, value: d.value } },
          h('td', null, t(`field.${d.kind}`)),
          h('td', null, h('code', null, d.value)),
          h('td', null, h('ul', { class: 'plain' }, d.customers.map((c) => h('li', { dataset: { owner: c.owner, visible: c.visible ? '1' : '0' } },
            c.visible ? h('a', { href: `#/customers/${encodeURIComponent(c.id)}` }, c.name || c.id) : h('span', { class: 'muted' }, t('dups.other')),
            ` · ${c.owner}`)))))))))));
  }

  async function update() {
    const my = ++seq;
    try {
      const d = await api('/api/duplicates');
      if (my !== seq) return;
      data = d;
      status.textContent = '';
      status.classList.remove('error');
      render();
    } catch (e) {
      if (e.status === 401 || my !== seq) return;
      data = null;
      fill(body);
      status.textContent = e.status === 403 ? t('dups.forbidden') : t('error.load', { msg: e.message });
      status.classList.add('error');
    }
  }

  return { update, relabel: render, destroy() {} };
}
