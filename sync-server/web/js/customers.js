// customers.js — the customer list with search and stage/owner filters
// (GET /api/customers).  The filter form is built once, so typing keeps
// focus while the table below it refreshes (live updates included).

import { api, query } from './api.js';
import { h, fill } from './dom.js';
import { fmtTime } from './format.js';
import { stageLabel, t } from './i18n.js';

const SEARCH_DELAY_MS = 250;

export function mountCustomers(root, app, params) {
  const search = h('input', {
    type: 'search', id: 'cust-search', name: 'search', autocomplete: 'off',
    dataset: { i18nPlaceholder: 'cust.search', i18nAriaLabel: 'cust.search' },
    placeholder: t('cust.search'), 'aria-label': t('cust.search'),
  });
  search.value = params.get('search') || '';
  const stage = h('select', { id: 'cust-stage', name: 'stage', dataset: { i18nAriaLabel: 'col.stage' }, 'aria-label': t('col.stage') });
  const owner = h('select', { id: 'cust-owner', name: 'owner', dataset: { i18nAriaLabel: 'col.owner' }, 'aria-label': t('col.owner') });
  const count = h('span', { class: 'muted', id: 'cust-count', role: 'status' });
  const exportLink = h('a', { class: 'button secondary', href: '/api/export.csv', download: 'fieldsync-export.csv', dataset: { i18n: 'cust.export' } }, t('cust.export'));
  const results = h('div', { class: 'card', id: 'cust-results' }, h('p', { class: 'muted' }, t('loading')));
  const form = h('form', { class: 'filters', id: 'cust-filters', role: 'search' }, search, stage, owner, count, exportLink);
  fill(root, h('div', { class: 'view customers', id: 'view-customers' }, form, results));

  let wanted = { stage: params.get('stage') || '', owner: params.get('owner') || '' };
  let rows = null;
  let seq = 0;

  function fillSelects() {
    const s = app.summary();
    const defs = (s && s.stage_defs) || [];
    const users = ((s && s.reps) || []).map((r) => r.user);
    fill(stage, h('option', { value: '' }, t('cust.stage.any')),
      defs.map((d) => h('option', { value: d.key }, stageLabel(defs, d.key))));
    stage.value = wanted.stage;
    fill(owner, h('option', { value: '' }, t('cust.owner.any')),
      users.map((u) => h('option', { value: u }, u)));
    owner.value = wanted.owner;
  }

  function render() {
    if (!rows) return;
    const defs = (app.summary() && app.summary().stage_defs) || [];
    count.textContent = t('cust.count', { n: rows.length });
    count.dataset.count = rows.length;
    if (rows.length === 0) {
      fill(results, h('p', { class: 'empty', dataset: { i18n: 'none' } }, t('none')));
      return;
    }
    const th = (k) => h('th', { scope: 'col', dataset: { i18n: k } }, t(k));
    fill(results, h('table', { class: 'data clickable', id: 'cust-table' },
      h('thead', null, h('tr', null, th('col.name'), th('col.company'), th('col.phone'), th('col.stage'), th('col.owner'), th('col.updated'))),
      h('tbody', null, rows.map((c) => h('tr', { dataset: { customer: c.id, stage: c.stage, owner: c.owner } },
        h('th', { scope: 'row' },
          h('a', { href: `#/customers/${encodeURIComponent(c.id)}` }, c.name),
          c.conflicts > 0 ? h('span', { class: 'badge warn' }, t('cust.conflicts', { n: c.conflicts })) : null),
        h('td', null, c.company || ''),
        h('td', null, c.phone || ''),
        h('td', null, h('span', { class: `stage stage-${c.stage}` }, stageLabel(defs, c.stage))),
        h('td', null, c.owner || ''),
        h('td', null, c.updated ? fmtTime(c.updated) : ''))))));
  }

  async function update() {
    const my = ++seq;
    fillSelects();
    const q = query({ search: search.value.trim(), stage: wanted.stage, owner: wanted.owner });
    try {
      const data = await api(`/api/customers${q}`);
      if (my !== seq) return; // a newer request is on its way
      rows = data;
      render();
    } catch (e) {
      if (e.status === 401 || my !== seq) return;
      fill(results, h('p', { class: 'error', role: 'alert' }, t('error.load', { msg: e.message })));
    }
  }

  // Keep the filters in the hash (shareable, survives reload) without
  // adding a history entry per keystroke.
  function syncHash() {
    const q = query({ search: search.value.trim(), stage: wanted.stage, owner: wanted.owner });
    history.replaceState(null, '', `#/customers${q}`);
  }

  // A click anywhere on a row opens the customer (the name stays a real
  // link for keyboard users and middle-click).
  results.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-customer]');
    if (!tr || e.target.closest('a')) return;
    location.hash = `#/customers/${encodeURIComponent(tr.dataset.customer)}`;
  });

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { syncHash(); update(); }, SEARCH_DELAY_MS);
  });
  stage.addEventListener('change', () => { wanted.stage = stage.value; syncHash(); update(); });
  owner.addEventListener('change', () => { wanted.owner = owner.value; syncHash(); update(); });
  form.addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(timer); syncHash(); update(); });

  return {
    update,
    relabel() { fillSelects(); render(); },
    destroy() { clearTimeout(timer); },
  };
}
