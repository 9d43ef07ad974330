// customers.js — the customer list with search, stage/owner filters and a
// sort (GET /api/customers).  The list is paged: the first PAGE rows come
// at once and the next page is fetched (through the Link header) when the
// "show more" button scrolls into view or is pressed, so a company of
// 10,000 customers never loads them all.  A live update refetches the rows
// already shown in one request.  The filter form is built once, so typing
// keeps focus while the table below it refreshes.

import { apiPage, query } from './api.js';
import { h, fill } from './dom.js';
import { fmtTime } from './format.js';
import { stageLabel, t } from './i18n.js';
import { loadTeams, teamSelect } from './teams.js';

const SEARCH_DELAY_MS = 250;
const PAGE = 50;
const PAGE_MAX = 1000;    // the server's largest page
const SORTS = ['name', 'next', 'last', 'amount'];

export function mountCustomers(root, app, params) {
  const search = h('input', {
    type: 'search', id: 'cust-search', name: 'search', autocomplete: 'off',
    dataset: { i18nPlaceholder: 'cust.search', i18nAriaLabel: 'cust.search' },
    placeholder: t('cust.search'), 'aria-label': t('cust.search'),
  });
  search.value = params.get('search') || '';
  const stage = h('select', { id: 'cust-stage', name: 'stage', dataset: { i18nAriaLabel: 'col.stage' }, 'aria-label': t('col.stage') });
  const owner = h('select', { id: 'cust-owner', name: 'owner', dataset: { i18nAriaLabel: 'col.owner' }, 'aria-label': t('col.owner') });
  const team = teamSelect('cust-team');
  const sort = h('select', { id: 'cust-sort', name: 'sort', dataset: { i18nAriaLabel: 'cust.sort.name' }, 'aria-label': t('cust.sort.name') });
  const count = h('span', { class: 'muted', id: 'cust-count', role: 'status' });
  const exportLink = h('a', { class: 'button secondary', href: '/api/export.csv', download: 'fieldsync-export.csv', dataset: { i18n: 'cust.export' } }, t('cust.export'));
  const results = h('div', { class: 'card', id: 'cust-results' }, h('p', { class: 'muted' }, t('loading')));
  const more = h('button', { type: 'button', class: 'button secondary', id: 'cust-more', hidden: true, dataset: { i18n: 'cust.more' } }, t('cust.more'));
  const form = h('form', { class: 'filters', id: 'cust-filters', role: 'search' }, search, stage, owner, team, sort, count, exportLink);
  fill(root, h('div', { class: 'view customers', id: 'view-customers' }, form, results, more));

  const wantedSort = params.get('sort');
  let wanted = { stage: params.get('stage') || '', owner: params.get('owner') || '', team: params.get('team') || '', sort: SORTS.includes(wantedSort) ? wantedSort : 'name' };
  let rows = null;
  let next = null;      // the next page's path, null on the last page
  let total = 0;
  let seq = 0;
  let loading = false;

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
    fill(sort, SORTS.map((k) => h('option', { value: k, dataset: { i18n: `cust.sort.${k}` } }, t(`cust.sort.${k}`))));
    sort.value = wanted.sort;
  }

  function filters() {
    return { search: search.value.trim(), stage: wanted.stage, owner: wanted.owner, team: wanted.team, sort: wanted.sort === 'name' ? '' : wanted.sort };
  }

  // The export follows the team filter (the CSV of what is shown).
  function exportHref() {
    exportLink.href = `/api/export.csv${wanted.team ? query({ team: wanted.team }) : ''}`;
  }

  function render() {
    if (!rows) return;
    const defs = (app.summary() && app.summary().stage_defs) || [];
    count.textContent = t('cust.count', { n: total });
    count.dataset.count = total;
    count.dataset.shown = rows.length;
    more.hidden = !next;
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

  // The first page again, as long as what is shown (a live update keeps
  // the rows the user scrolled to).
  async function update() {
    const my = ++seq;
    fillSelects();
    const limit = Math.min(PAGE_MAX, Math.max(PAGE, rows ? rows.length : 0));
    const q = query({ ...filters(), limit });
    try {
      const page = await apiPage(`/api/customers${q}`);
      if (my !== seq) return; // a newer request is on its way
      rows = page.rows;
      next = page.next;
      total = page.total;
      render();
    } catch (e) {
      if (e.status === 401 || my !== seq) return;
      fill(results, h('p', { class: 'error', role: 'alert' }, t('error.load', { msg: e.message })));
    }
  }

  // New filters or sort: from the first page again.
  function restart() {
    rows = null;
    next = null;
    return update();
  }

  async function loadMore() {
    if (!next || loading) return;
    const my = seq;
    loading = true;
    try {
      const page = await apiPage(next);
      if (my !== seq) return; // the filters changed meanwhile
      rows = rows.concat(page.rows);
      next = page.next;
      total = page.total;
      render();
    } catch (e) {
      if (e.status !== 401 && my === seq) fill(results, h('p', { class: 'error', role: 'alert' }, t('error.load', { msg: e.message })));
    } finally {
      loading = false;
    }
  }

  // Keep the filters in the hash (shareable, survives reload) without
  // adding a history entry per keystroke.
  function syncHash() {
    const q = query(filters());
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
    timer = setTimeout(() => { syncHash(); restart(); }, SEARCH_DELAY_MS);
  });
  stage.addEventListener('change', () => { wanted.stage = stage.value; syncHash(); restart(); });
  owner.addEventListener('change', () => { wanted.owner = owner.value; syncHash(); restart(); });
  sort.addEventListener('change', () => { wanted.sort = sort.value; syncHash(); restart(); });
  team.addEventListener('change', () => { wanted.team = team.value; exportHref(); syncHash(); restart(); });
  loadTeams(team, wanted.team).then(() => { wanted.team = team.value; exportHref(); });
  more.addEventListener('click', loadMore);
  // Scrolling to the end of the list fetches the next page.
  const seen = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); })
    : null;
  if (seen) seen.observe(more);
  form.addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(timer); syncHash(); restart(); });

  return {
    update,
    relabel() { fillSelects(); render(); },
    destroy() { clearTimeout(timer); if (seen) seen.disconnect(); },
  };
}
