// dashboard.js — the office's overview: KPIs, the charts behind
// GET /api/analysis, and the lists (birthdays, conflicts, devices, reps).
// Built once on mount; update() refetches and fills the same elements, so a
// live refresh keeps scroll position and charts update in place.

import { api, apiPage } from './api.js';
import { drawChart, destroyCharts, colour } from './charts.js';
import { h, fill } from './dom.js';
import { fmtDays, fmtNumber, fmtPercent, fmtTime, shortId } from './format.js';
import { stageLabel, t } from './i18n.js';
import { loadTeams, teamSelect } from './teams.js';

function card(id, titleKey, { wide = false, noteKey = null, chart = true } = {}) {
  return h('section', { class: `card${wide ? ' wide' : ''}`, id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, dataset: { i18n: titleKey } }, t(titleKey)),
    noteKey ? h('p', { class: 'note', dataset: { i18n: noteKey } }, t(noteKey)) : null,
    chart ? h('div', { class: 'chart-box' }, h('canvas', { role: 'img', 'aria-labelledby': `${id}-title` })) : null,
    h('div', { class: 'figures' }));
}

function th(key) { return h('th', { scope: 'col', dataset: { i18n: key } }, t(key)); }

function empty() { return h('p', { class: 'empty', dataset: { i18n: 'none' } }, t('none')); }

function custLink(id, name) {
  return h('a', { href: `#/customers/${encodeURIComponent(id)}`, dataset: { customer: id } }, name || shortId(id));
}

export function mountDashboard(root, app) {
  // The team filter: a team and every team below it (hidden for a rep).
  const team = teamSelect('dash-team');
  const kpis = h('section', { class: 'kpis', id: 'kpis', 'aria-label': 'KPI' });
  const grid = h('div', { class: 'grid' },
    card('funnel', 'chart.funnel', { noteKey: 'chart.funnel.note' }),
    card('weekly', 'chart.weekly'),
    card('overdue', 'chart.overdue'),
    card('ttw', 'chart.ttw'),
    card('birthdays', 'list.birthdays', { chart: false }),
    card('conflicts', 'list.conflicts', { chart: false }),
    card('hours', 'chart.hours', { wide: true, noteKey: 'chart.hours.note', chart: false }),
    card('money', 'list.money', { wide: true, noteKey: 'list.money.note', chart: false }),
    card('reps', 'list.reps', { chart: false }),
    card('devices', 'list.devices', { chart: false }),
    card('pool', 'list.pool', { noteKey: 'list.pool.note', chart: false }),
    card('returning', 'list.returning', { chart: false }));
  const status = h('p', { class: 'status', id: 'dash-status', role: 'status' }, t('loading'));
  fill(root, h('div', { class: 'view dashboard', id: 'view-dashboard' }, h('form', { class: 'filters', id: 'dash-filters' }, team), kpis, status, grid));
  loadTeams(team, '');
  team.addEventListener('change', () => { if (app.setLiveTeam) app.setLiveTeam(team.value); update(); });
  if (app.setLiveTeam) app.setLiveTeam(team.value);

  let last = null;

  function render() {
    if (!last) return;
    const { summary, analysis, pool } = last;
    const defs = summary.stage_defs || [];
    renderKpis(kpis, summary);
    renderFunnel(root.querySelector('#funnel'), analysis.funnel || [], defs);
    renderWeekly(root.querySelector('#weekly'), analysis.followups_per_rep_week || []);
    renderOverdue(root.querySelector('#overdue'), analysis.overdue_per_rep || []);
    renderTtw(root.querySelector('#ttw'), analysis.time_to_won || [], listOf(analysis, 'time_to_won'));
    renderHours(root.querySelector('#hours'), analysis.win_hours || []);
    renderBirthdays(root.querySelector('#birthdays'), analysis.birthdays || [], listOf(analysis, 'birthdays'));
    renderConflicts(root.querySelector('#conflicts'), analysis.conflicts || []);
    renderMoney(root.querySelector('#money'), analysis.money || {}, defs);
    renderReps(root.querySelector('#reps'), summary.reps || []);
    renderDevices(root.querySelector('#devices'), analysis.devices || []);
    renderPool(root.querySelector('#pool'), pool || {});
    renderReturning(root.querySelector('#returning'), (pool && pool.returning) || []);
    status.textContent = t('updated', { time: fmtTime(new Date().toISOString()) });
    status.classList.remove('error');
  }

  // figures: a /live message's summary and analysis (live.js); used when
  // they are of this filter's query, else fetched.
  async function update(figures = null) {
    try {
      const tq = team.value ? `team=${encodeURIComponent(team.value)}` : '';
      const fromLive = figures && figures.query === liveFiguresQuery(team.value);
      const view = root.querySelector('#view-dashboard');
      // How many redraws came from /live's figures (tests read it).
      if (fromLive) view.dataset.liveFigures = String(Number(view.dataset.liveFigures || 0) + 1);
      const [summary, analysis, pool] = await Promise.all([
        fromLive ? figures.summary : api(`/api/summary${tq ? `?${tq}` : ''}`),
        fromLive ? withQuery(figures.analysis, liveAnalysisQuery(team.value)) : analysisInZone(tq),
        api('/api/pool').catch((e) => { if (e.status === 401) throw e; return null; })]);
      if (!tq) app.setSummary(summary);
      last = { summary, analysis, pool };
      render();
      root.querySelector('#view-dashboard').dataset.head = summary.head ?? '';
    } catch (e) {
      if (e.status === 401) return;
      status.textContent = t('error.load', { msg: e.message });
      status.classList.add('error');
    }
  }

  return { update, relabel: render, destroy() { destroyCharts(root); if (app.setLiveTeam) app.setLiveTeam(''); } };
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; }
}

// The analysis's query the /live figures answer (for paging its lists).
function liveAnalysisQuery(teamValue) {
  const zone = browserZone();
  const tq = teamValue ? `team=${encodeURIComponent(teamValue)}` : '';
  return [zone ? `tz=${encodeURIComponent(zone)}` : '', tq].filter(Boolean).join('&');
}

// /live's parameters for the dashboard's figures of team teamValue in
// this browser's zone (app.js opens /live with them).
export function liveFiguresQuery(teamValue = '') {
  const q = liveAnalysisQuery(teamValue);
  return `figures=1${q ? `&${q}` : ''}`;
}

// The figures in this browser's time zone (weeks, hours, birthdays); the
// server's zone if it does not know this one.  The query that was answered
// is kept (as a hidden property) for paging the analysis's lists.
async function analysisInZone(tq = '') {
  let zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { zone = ''; }
  if (zone) {
    const q = `tz=${encodeURIComponent(zone)}${tq ? `&${tq}` : ''}`;
    try {
      return withQuery(await api(`/api/analysis?${q}`), q);
    } catch (e) {
      if (e.status !== 400) throw e;
    }
  }
  return withQuery(await api(`/api/analysis${tq ? `?${tq}` : ''}`), tq);
}

function withQuery(analysis, q) {
  Object.defineProperty(analysis, '_query', { value: q, enumerable: false });
  return analysis;
}

// A list of the analysis that a large office sees cut to its first rows
// (birthdays, time_to_won): its whole length and the path of its pages
// (GET /api/analysis/NAME, docs/API.md).
function listOf(analysis, name) {
  const rows = analysis[name] || [];
  const total = Number.isFinite(analysis[`${name}_total`]) ? analysis[`${name}_total`] : rows.length;
  const q = analysis._query || '';
  return { total, path: `/api/analysis/${name}?limit=500${q ? `&${q}` : ''}` };
}

// Every row of such a list, page after page (Link rel="next").
async function allRows(path) {
  const out = [];
  for (let next = path; next;) {
    const page = await apiPage(next);
    out.push(...page.rows);
    next = page.next;
  }
  return out;
}

// Issue 13's money: pipeline value per stage, the weighted forecast by
// month of expected close, win rate per rep and the average deal.
function renderMoney(card, m, defs) {
  const pipeline = m.pipeline || [];
  const forecast = m.forecast || [];
  const rates = m.win_rate || [];
  fill(card.querySelector('.figures'),
    h('table', { class: 'data', id: 'pipeline-table' },
      h('thead', null, h('tr', null, th('col.stage'), th('col.count'), th('col.value'), th('col.probability'))),
      h('tbody', null, pipeline.map((r) => h('tr', { dataset: { stage: r.stage } },
        h('th', { scope: 'row' }, stageLabel(defs, r.stage)),
        h('td', { class: 'num', dataset: { col: 'count', value: r.count } }, fmtNumber(r.count)),
        h('td', { class: 'num', dataset: { col: 'value', value: r.value } }, fmtNumber(r.value)),
        h('td', { class: 'num', dataset: { col: 'probability', value: r.probability ?? '' } },
          r.probability === null || r.probability === undefined ? '' : `${r.probability}%`))))),
    forecast.length === 0 ? null : h('table', { class: 'data', id: 'forecast-table' },
      h('thead', null, h('tr', null, th('col.month'), th('col.weighted'))),
      h('tbody', null, forecast.map((r) => h('tr', { dataset: { month: r.month } },
        h('th', { scope: 'row' }, r.month),
        h('td', { class: 'num', dataset: { col: 'weighted', value: r.weighted } }, fmtNumber(r.weighted)))))),
    rates.length === 0 ? null : h('table', { class: 'data', id: 'winrate-table' },
      h('thead', null, h('tr', null, th('col.user'), th('col.won'), th('col.lost'), th('col.winrate'))),
      h('tbody', null, rates.map((r) => h('tr', { dataset: { user: r.user } },
        h('th', { scope: 'row' }, r.user),
        h('td', { class: 'num' }, fmtNumber(r.won)),
        h('td', { class: 'num' }, fmtNumber(r.lost)),
        h('td', { class: 'num', dataset: { col: 'rate', value: r.rate } }, fmtPercent(r.rate)))))),
    h('p', { class: 'note', id: 'avg-deal', dataset: { value: m.avg_deal ?? '' } },
      t('money.avg', { v: m.avg_deal === null || m.avg_deal === undefined ? '—' : fmtNumber(m.avg_deal) })));
}

function renderKpis(el, s) {
  const reps = s.reps || [];
  const total = s.customers ?? Object.values(s.stages || {}).reduce((a, b) => a + b, 0);
  const f7 = reps.reduce((a, r) => a + (r.followups_7d || 0), 0);
  const items = [
    ['customers', 'kpi.customers', total],
    ['followups7', 'kpi.followups7', f7],
    ['overdue', 'kpi.overdue', s.overdue ?? 0],
    ['conflicts', 'kpi.conflicts', s.conflicts ?? 0],
  ];
  fill(el, items.map(([k, label, v]) =>
    h('div', { class: `kpi${(k === 'overdue' || k === 'conflicts') && v > 0 ? ' warn' : ''}`, dataset: { kpi: k, value: v } },
      h('span', { class: 'kpi-value' }, fmtNumber(v)),
      h('span', { class: 'kpi-label', dataset: { i18n: label } }, t(label)))));
}

function renderFunnel(card, rows, defs) {
  const labels = rows.map((r) => stageLabel(defs, r.stage));
  drawChart(card.querySelector('canvas'), {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: t('col.reached'), data: rows.map((r) => r.reached), backgroundColor: colour(0) },
        { label: t('col.count'), data: rows.map((r) => r.count), backgroundColor: colour(1) },
      ],
    },
    options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const body = rows.map((r, i) => h('tr', { dataset: { stage: r.stage } },
    h('th', { scope: 'row' }, labels[i]),
    h('td', { class: 'num', dataset: { col: 'count', value: r.count } }, fmtNumber(r.count)),
    h('td', { class: 'num', dataset: { col: 'reached', value: r.reached } }, fmtNumber(r.reached)),
    h('td', { class: 'num', dataset: { col: 'conversion', value: r.conversion ?? '' } }, fmtPercent(r.conversion))));
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('table', { class: 'data', id: 'funnel-table' },
      h('thead', null, h('tr', null, th('col.stage'), th('col.count'), th('col.reached'), th('col.conversion'))),
      h('tbody', null, body)));
}

function renderWeekly(card, rows) {
  const weeks = [...new Set(rows.map((r) => r.week))].sort();
  const users = [...new Set(rows.map((r) => r.user))].sort();
  const count = (u, w) => rows.filter((r) => r.user === u && r.week === w).reduce((a, r) => a + r.count, 0);
  drawChart(card.querySelector('canvas'), {
    type: 'bar',
    data: {
      labels: weeks,
      datasets: users.map((u, i) => ({ label: u, data: weeks.map((w) => count(u, w)), backgroundColor: colour(i) })),
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('div', { class: 'scroll-x' }, h('table', { class: 'data', id: 'weekly-table' },
      h('thead', null, h('tr', null, th('col.rep'), weeks.map((w) => h('th', { scope: 'col' }, w)))),
      h('tbody', null, users.map((u) => h('tr', { dataset: { user: u } },
        h('th', { scope: 'row' }, u),
        weeks.map((w) => h('td', { class: 'num', dataset: { week: w, value: count(u, w) } }, fmtNumber(count(u, w))))))))));
}

function renderOverdue(card, rows) {
  drawChart(card.querySelector('canvas'), {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.user),
      datasets: [{ label: t('col.overdue'), data: rows.map((r) => r.overdue), backgroundColor: colour(2) }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('table', { class: 'data', id: 'overdue-table' },
      h('thead', null, h('tr', null, th('col.rep'), th('col.overdue'))),
      h('tbody', null, rows.map((r) => h('tr', { dataset: { user: r.user } },
        h('th', { scope: 'row' }, r.user),
        h('td', { class: 'num', dataset: { col: 'overdue', value: r.overdue } }, fmtNumber(r.overdue)))))));
}

function ttwRow(r) {
  return h('tr', { dataset: { customer: r.customer } },
    h('th', { scope: 'row' }, custLink(r.customer, r.name)),
    h('td', { class: 'num', dataset: { col: 'days', value: r.days } }, fmtNumber(r.days)));
}

// The chart draws the rows the analysis gives (the fastest wins, at most
// 50); "Show all N" pages the rest into the table.
function renderTtw(card, rows, list = { total: rows.length, path: null }) {
  drawChart(card.querySelector('canvas'), {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.name || shortId(r.customer)),
      datasets: [{ label: t('col.days'), data: rows.map((r) => r.days), backgroundColor: colour(3) }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
  });
  if (rows.length === 0) {
    fill(card.querySelector('.figures'), empty());
    return;
  }
  const body = h('tbody', null, rows.map(ttwRow));
  const all = list.total > rows.length && list.path
    ? h('button', { type: 'button', class: 'button secondary', id: 'ttw-all', dataset: { count: list.total } },
      t('list.showall', { n: list.total }))
    : null;
  if (all) {
    all.addEventListener('click', async () => {
      all.disabled = true;
      try {
        fill(body, (await allRows(list.path)).map(ttwRow));
        all.remove();
      } catch {
        all.disabled = false;
      }
    });
  }
  fill(card.querySelector('.figures'), h('table', { class: 'data', id: 'ttw-table' },
    h('thead', null, h('tr', null, th('col.customer'), th('col.days'))), body), all);
}

// A 7 × 24 grid of cells, darker for more follow-ups; each cell shows its
// count and carries it in data-count.
function renderHours(card, rows) {
  const counts = new Map(rows.map((r) => [`${r.weekday}:${r.hour}`, r.count]));
  const max = Math.max(0, ...rows.map((r) => r.count));
  const level = (n) => (n === 0 || max === 0 ? 0 : Math.max(1, Math.ceil((n / max) * 5)));
  const head = h('div', { class: 'hm-row hm-head' }, h('span', { class: 'hm-label' }),
    Array.from({ length: 24 }, (_, hr) => h('span', { class: 'hm-hour' }, String(hr))));
  const body = Array.from({ length: 7 }, (_, wd) => h('div', { class: 'hm-row', dataset: { weekday: wd } },
    h('span', { class: 'hm-label', dataset: { i18n: `weekday.${wd}` } }, t(`weekday.${wd}`)),
    Array.from({ length: 24 }, (_, hr) => {
      const n = counts.get(`${wd}:${hr}`) || 0;
      return h('span', {
        class: `hm-cell heat-${level(n)}`,
        dataset: { weekday: wd, hour: hr, count: n },
        title: `${t(`weekday.${wd}`)} ${String(hr).padStart(2, '0')}:00 — ${n}`,
      }, n > 0 ? String(n) : '');
    })));
  fill(card.querySelector('.figures'), h('div', { class: 'heatmap', id: 'heatmap' }, head, body));
}

// A company's head office sees hundreds of birthdays in the window: the
// first BIRTHDAYS_SHOWN are drawn, the rest on request, so the first paint
// of the dashboard does not lay out a list nobody reads to the end.
const BIRTHDAYS_SHOWN = 20;

function birthdayItem(r) {
  return h('li', { dataset: { customer: r.id, days: r.days } },
    custLink(r.id, r.name),
    h('span', { class: 'muted' }, ` ${r.birthday} · `),
    h('span', { class: r.days === 0 ? 'badge today' : 'badge' }, fmtDays(r.days)));
}

// The analysis gives the first rows and the count; "Show all N" pages the
// whole list from GET /api/analysis/birthdays.
function renderBirthdays(card, rows, list = { total: rows.length, path: null }) {
  if (rows.length === 0) {
    fill(card.querySelector('.figures'), empty());
    return;
  }
  const ul = h('ul', { class: 'plain', id: 'birthday-list' }, rows.slice(0, BIRTHDAYS_SHOWN).map(birthdayItem));
  const total = Math.max(list.total, rows.length);
  const all = total > BIRTHDAYS_SHOWN
    ? h('button', { type: 'button', class: 'button secondary', id: 'birthday-all', dataset: { count: total } },
      t('list.showall', { n: total }))
    : null;
  if (all) {
    all.addEventListener('click', async () => {
      all.disabled = true;
      try {
        const every = total > rows.length && list.path ? await allRows(list.path) : rows;
        fill(ul, every.map(birthdayItem));
        all.remove();
      } catch {
        all.disabled = false;
      }
    });
  }
  fill(card.querySelector('.figures'), ul, all);
}

function renderConflicts(card, rows) {
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('ul', { class: 'plain conflicts', id: 'conflict-list' }, rows.map((c) => h('li', { dataset: { conflict: c.id } },
      h('div', null, custLink(c.customer || c.record, c.name), h('span', { class: 'muted' }, ` · ${c.table}.${c.field}`)),
      h('ul', { class: 'values' }, (c.values || []).map((v) => h('li', null,
        h('code', null, v.value === null ? '∅' : String(v.value)),
        h('span', { class: 'muted' }, ` — ${v.user}, ${shortId(v.device)}, ${fmtTime(v.at)}`))))))));
}

function renderReps(card, rows) {
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('table', { class: 'data', id: 'reps-table' },
      h('thead', null, h('tr', null, th('col.rep'), th('col.customers'), th('col.followups7'), th('col.overdue'), th('col.lastsync'))),
      h('tbody', null, rows.map((r) => h('tr', { dataset: { user: r.user } },
        h('th', { scope: 'row' }, r.user),
        h('td', { class: 'num', dataset: { col: 'customers', value: r.customers } }, fmtNumber(r.customers)),
        h('td', { class: 'num', dataset: { col: 'followups_7d', value: r.followups_7d } }, fmtNumber(r.followups_7d)),
        h('td', { class: 'num', dataset: { col: 'overdue', value: r.overdue } }, fmtNumber(r.overdue)),
        h('td', { dataset: { col: 'last_sync', value: r.last_sync ?? '' } }, fmtTime(r.last_sync)))))));
}

function renderDevices(card, rows) {
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('table', { class: 'data', id: 'devices-table' },
      h('thead', null, h('tr', null, th('col.device'), th('col.user'), th('col.lastsync'))),
      h('tbody', null, rows.map((r) => h('tr', { dataset: { device: r.device } },
        h('td', { title: r.device }, h('code', null, shortId(r.device))),
        h('td', null, r.user),
        h('td', { dataset: { col: 'last_sync', value: r.last_sync ?? '' } }, fmtTime(r.last_sync)))))));
}

// The customer pool (公海, GET /api/pool): per team the customers in the
// pool now and this week's returns, claims and releases.
function renderPool(card, p) {
  const teams = p.teams || [];
  fill(card.querySelector('.figures'), teams.length === 0 ? empty()
    : h('table', { class: 'data', id: 'pool-table' },
      h('thead', null, h('tr', null, th('col.team'), th('col.inpool'), th('col.returned'), th('col.claimed'), th('col.released'))),
      h('tbody', null, teams.map((r) => h('tr', { dataset: { team: r.team } },
        h('th', { scope: 'row' }, r.team || '—'),
        ...['size', 'returned', 'claimed', 'released'].map((k) =>
          h('td', { class: 'num', dataset: { col: k, value: r[k] } }, fmtNumber(r[k]))))))));
}

function renderReturning(card, rows) {
  fill(card.querySelector('.figures'), rows.length === 0 ? empty()
    : h('table', { class: 'data', id: 'returning-table' },
      h('thead', null, h('tr', null, th('col.customer'), th('col.owner'), th('col.returns'))),
      h('tbody', null, rows.map((r) => h('tr', { dataset: { customer: r.id, days: r.days_left } },
        h('td', null, custLink(r.id, r.name)),
        h('td', null, r.owner),
        h('td', { dataset: { col: 'return_at', value: r.return_at } },
          fmtTime(r.return_at), h('span', { class: 'muted' }, ` · ${fmtDays(r.days_left)}`)))))));
}
