// customer.js — one customer's follow-up sheet (客户跟进单) in its four
// parts, plus feedback and the timeline, from GET /api/customers/ID.  The
// "as of" picker reloads the sheet with ?as_of= (the sheet as it stood at
// that time, rebuilt by the server from the history); the chosen time is
// kept in the hash so a reload shows the same view.

import { api, query } from './api.js';
import { h, fill } from './dom.js';
import { fmtTime, isoToLocalInput, localInputToIso, shortId } from './format.js';
import { fieldLabel, methodLabel, stageLabel, t } from './i18n.js';
import { photoStrip } from './photos.js';
import { mapUrl, placeText } from './fieldwork.js';

const BASIC_FIELDS = ['name', 'phone', 'email', 'wechat', 'company', 'title', 'birthday', 'notes', 'owner', 'tags', 'cycle'];

function section(id, titleKey, extraClass = '') {
  return h('section', { class: `card ${extraClass}`, id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, dataset: { i18n: titleKey } }, t(titleKey)),
    h('div', { class: 'body' }));
}

function empty() { return h('p', { class: 'empty', dataset: { i18n: 'none' } }, t('none')); }

function th(k) { return h('th', { scope: 'col', dataset: { i18n: k } }, t(k)); }

function valueText(v) {
  if (v === null || v === undefined) return '∅';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// The timeline (数据可追溯) as actions: the history has one entry per
// field, so a follow-up added is six entries; consecutive entries of one
// record by one user on one device at one time are one action, one row.
function groupTimeline(entries) {
  const groups = [];
  for (const e of entries) {
    const g = groups[groups.length - 1];
    if (g && g.table === e.table && g.record === e.record && g.user === e.user
        && g.device === e.device && g.at === e.at) g.entries.push(e);
    else groups.push({ table: e.table, record: e.record, user: e.user, device: e.device, at: e.at, entries: [e] });
  }
  // A stage change writes the customer's stage and a stage-change record:
  // one action, shown once (the record's row, which has the note).
  const same = (a, b) => b && b.table === 'stagechg' && a.user === b.user && a.device === b.device && a.at === b.at
    && b.entries.some((x) => x.field === 'to' && x.value === a.entries[0].value);
  return groups.filter((g, i) => !(g.table === 'customer' && g.entries.length === 1
    && g.entries[0].field === 'stage' && !g.entries[0].replaced && !g.entries[0].concurrent
    && (same(g, groups[i - 1]) || same(g, groups[i + 1]))));
}

const isNull = (v) => v === null || v === undefined;

// A follow-up's "attachments" as the history gives it: the list, or its
// JSON text; [] when it is neither.
function attachmentList(v) {
  if (Array.isArray(v)) return v;
  if (typeof v !== 'string') return [];
  try {
    const a = JSON.parse(v);
    return Array.isArray(a) ? a : [];
  } catch {
    return [];
  }
}

// A field's label: the customer's own by field.KEY, custom fields (f.KEY)
// by their definition, a child's by field.KEY too (content, due, ...).
function fieldName(fieldDefs, e) {
  if (e.table === 'customer' && e.field.startsWith('f.')) return fieldLabel(fieldDefs, e.field.slice(2));
  const k = `field.${e.field}`;
  const s = t(k);
  return s === k ? e.field : s;
}

// A value as the page shows it: stage keys and methods by their labels,
// times as local times, a plan's done flag as done/open.
function valueLabel(stageDefs, e, v) {
  if (isNull(v)) return '∅';
  if (typeof v !== 'string') return valueText(v);
  const stageField = (e.table === 'customer' && e.field === 'stage')
    || (e.table === 'stagechg' && (e.field === 'from' || e.field === 'to'));
  if (stageField) return stageLabel(stageDefs, v);
  if (e.field === 'method') return methodLabel(v);
  if (e.table === 'plan' && e.field === 'done') return t(v === '1' ? 'plan.done' : 'plan.open');
  if ((e.field === 'at' || e.field === 'due') && e.table !== 'customer' && /T/.test(v)) return fmtTime(v);
  return v;
}

// One field's change: "old → new"; a resolution shows the values it
// settled, never "X → X"; values it was concurrent with are marked.
function changeNodes(stageDefs, e) {
  const out = [];
  const val = (v) => valueLabel(stageDefs, e, v);
  if (Array.isArray(e.replaced) && e.replaced.length > 0) {
    out.push(h('span', { class: 'tl-resolved' }, t('tl.resolved')), ' ',
      h('ins', null, val(e.value)), ' ',
      h('span', { class: 'muted tl-settled', dataset: { values: JSON.stringify(e.replaced) } },
        t('tl.settled', { values: e.replaced.map(val).join(', ') })));
  } else if (isNull(e.previous) || val(e.previous) === val(e.value)) {
    out.push(h('ins', null, val(e.value)));
  } else {
    out.push(h('del', null, val(e.previous)), ' → ', h('ins', null, val(e.value)));
  }
  return [...out, ...concurrentMark(stageDefs, e)];
}

// "concurrent with: X, Y": values another device wrote without seeing this.
function concurrentMark(stageDefs, e) {
  if (!Array.isArray(e.concurrent) || e.concurrent.length === 0) return [];
  return [' ', h('span', { class: 'muted tl-concurrent', dataset: { field: e.field, values: JSON.stringify(e.concurrent) } },
    t('tl.concurrent', { values: e.concurrent.map((c) => valueLabel(stageDefs, e, c)).join(', ') }))];
}

// What one action did, as a sentence in the page's language.
function actionNodes(stageDefs, fieldDefs, g) {
  const f = {};
  for (const e of g.entries) f[e.field] = e;
  const v = (k) => (f[k] ? valueLabel(stageDefs, f[k], f[k].value) : '');
  // Created: every field's first write, including the one an add always
  // writes (a customer's name, a child's customer); a first email is an edit.
  const created = g.entries.every((e) => isNull(e.previous) && !e.replaced)
    && !!f[g.table === 'customer' ? 'name' : 'customer'];
  const del = f.deleted && g.entries.length === 1;
  if (del) {
    const what = t(`tl.what.${g.table}`);
    return { kind: f.deleted.value === '1' ? 'deleted' : 'restored', nodes: [t(f.deleted.value === '1' ? 'tl.deleted' : 'tl.restored', { what })] };
  }
  if (created && g.table !== 'customer') {
    const marks = g.entries.flatMap((e) => concurrentMark(stageDefs, e));
    if (g.table === 'followup') {
      const place = [f.address ? v('address') : null, f.location ? `(${v('location')})` : null].filter(Boolean).join(' ');
      return { kind: 'added', nodes: [t('tl.followup.added', { method: v('method') }), t('tl.sep'), h('q', null, v('content')),
        f.result ? ` → ${v('result')}` : null, place ? ` · ${t('checkin.at', { place })}` : null, ...marks,
        f.attachments ? photoStrip(attachmentList(f.attachments.value)) : null] };
    }
    if (g.table === 'plan') {
      return { kind: 'added', nodes: [t('tl.plan.added', { due: v('due') }), f.content ? t('tl.sep') : null,
        f.content ? h('q', null, v('content')) : null, ...marks] };
    }
    if (g.table === 'feedback') return { kind: 'added', nodes: [t('tl.feedback.added'), t('tl.sep'), h('q', null, v('content')), ...marks] };
    if (g.table === 'stagechg') {
      return { kind: 'added', nodes: [`${t('field.stage')}${t('tl.sep')}`, h('del', null, v('from')), ' → ', h('ins', null, v('to')),
        f.note ? ` (${v('note')})` : null, ...marks] };
    }
  }
  const nodes = [];
  if (created && g.table === 'customer') nodes.push(h('strong', null, t('tl.customer.added')), ' ');
  const prefix = g.table === 'customer' ? '' : `${t(`tl.what.${g.table}`)} · `;
  g.entries.forEach((e, i) => {
    nodes.push(h('span', { class: 'tl-field', dataset: { field: e.field } },
      `${i === 0 ? prefix : ''}${fieldName(fieldDefs, e)}${t('tl.sep')}`, ...changeNodes(stageDefs, e)));
    if (i < g.entries.length - 1) nodes.push('; ');
  });
  const kind = created ? 'created' : g.entries.some((e) => e.replaced) ? 'resolved' : 'edited';
  return { kind, nodes };
}

// A check-in (拜访签到): where (address, coordinates, a map link for a
// person to open) and when (the follow-up's time).
function checkinLine(f) {
  const loc = f.location;
  if (!loc) return null;
  const hasXY = typeof loc.lat === 'number' && typeof loc.lon === 'number';
  return h('p', { class: 'checkin', dataset: { lat: hasXY ? loc.lat : '', lon: hasXY ? loc.lon : '', address: loc.address || '' } },
    t('checkin.at', { place: placeText(loc) }), ' · ',
    h('time', { datetime: f.at }, fmtTime(f.at)),
    hasXY ? [' · ', h('a', { href: mapUrl(loc.lat, loc.lon), rel: 'noopener noreferrer', target: '_blank', class: 'map' }, t('checkins.open'))] : null);
}

export function mountCustomer(root, app, id, params) {
  let asOf = params.get('as_of') || null;

  const title = h('h1', { id: 'cust-name' });
  const meta = h('p', { class: 'muted', id: 'cust-meta' });
  const input = h('input', { type: 'datetime-local', step: '1', id: 'asof-input', name: 'as_of' });
  const label = h('label', { for: 'asof-input', dataset: { i18n: 'sheet.asof' } }, t('sheet.asof'));
  const apply = h('button', { type: 'submit', id: 'asof-apply', dataset: { i18n: 'sheet.asof.apply' } }, t('sheet.asof.apply'));
  const now = h('button', { type: 'button', class: 'secondary', id: 'asof-now', dataset: { i18n: 'sheet.asof.now' } }, t('sheet.asof.now'));
  const asofForm = h('form', { class: 'asof', id: 'asof-form' }, label, input, apply, now);
  const banner = h('p', { class: 'banner', id: 'asof-banner', role: 'status', hidden: true });
  const status = h('p', { class: 'status', id: 'sheet-status', role: 'status' }, t('loading'));

  const basic = section('sheet-basic', 'sheet.basic');
  const followups = section('sheet-followups', 'sheet.followups');
  const progress = section('sheet-progress', 'sheet.progress');
  const plans = section('sheet-plans', 'sheet.plans');
  const feedback = section('sheet-feedback', 'sheet.feedback');
  const timeline = section('sheet-timeline', 'sheet.timeline', 'wide');

  const view = h('div', { class: 'view customer', id: 'view-customer', dataset: { customer: id } },
    h('div', { class: 'sheet-head' },
      h('div', null,
        h('a', { href: '#/customers', class: 'back', dataset: { i18n: 'cust.back' } }, t('cust.back')),
        title, meta),
      asofForm),
    banner, status,
    h('div', { class: 'grid sheet' }, basic, followups, progress, plans, feedback, timeline));
  fill(root, view);

  let sheet = null;
  let seq = 0;

  function setAsOf(iso) {
    asOf = iso;
    history.replaceState(null, '', `#/customers/${encodeURIComponent(id)}${query({ as_of: asOf })}`);
    update();
  }

  asofForm.addEventListener('submit', (e) => {
    e.preventDefault();
    setAsOf(localInputToIso(input.value));
  });
  now.addEventListener('click', () => { input.value = ''; setAsOf(null); });

  function render() {
    if (!sheet) return;
    const s = app.summary() || {};
    const stageDefs = s.stage_defs || [];
    const fieldDefs = s.field_defs || [];
    view.dataset.asOf = asOf || '';
    title.textContent = sheet.name || shortId(sheet.id);
    fill(meta,
      h('span', { class: `stage stage-${sheet.stage}`, id: 'cust-stage', dataset: { stage: sheet.stage } }, stageLabel(stageDefs, sheet.stage)),
      ` · ${t('field.owner')}: ${sheet.owner || ''}`);
    if (asOf) {
      banner.hidden = false;
      banner.textContent = t('sheet.asof.banner', { time: fmtTime(asOf) });
      if (document.activeElement !== input) input.value = isoToLocalInput(asOf);
    } else {
      banner.hidden = true;
      if (document.activeElement !== input) input.value = '';
    }

    // 1. Basic information, then custom fields.
    const rows = [];
    for (const f of BASIC_FIELDS) {
      let v = sheet[f];
      if (v === undefined || v === null || v === '') continue;
      if (Array.isArray(v)) v = v.join(', ');
      rows.push(h('dt', { dataset: { i18n: `field.${f}` } }, t(`field.${f}`)),
        h('dd', { dataset: { field: f } }, String(v)));
    }
    for (const [k, v] of Object.entries(sheet.fields || {})) {
      if (v === null || v === '') continue;
      rows.push(h('dt', null, fieldLabel(fieldDefs, k)), h('dd', { dataset: { field: `fields.${k}` } }, valueText(v)));
    }
    fill(basic.querySelector('.body'), h('dl', { class: 'kv' }, rows));

    // 2. Follow-ups, newest first (the server's order).
    const fu = sheet.followups || [];
    fill(followups.querySelector('.body'), fu.length === 0 ? empty()
      : h('ol', { class: 'entries', id: 'followup-list' }, fu.map((f) => h('li', { dataset: { followup: f.id } },
        h('div', { class: 'entry-head' },
          h('span', { class: 'badge' }, methodLabel(f.method)),
          h('time', { datetime: f.at }, fmtTime(f.at)),
          h('span', { class: 'muted' }, f.author || '')),
        h('p', { class: 'content' }, f.content || ''),
        f.result ? h('p', { class: 'result' }, `→ ${f.result}`) : null,
        photoStrip(f.attachments),
        checkinLine(f)))));

    // 3. Sales progress: the stage path, then each change with its note.
    const path = stageDefs.filter((d) => !d.lost || d.key === sheet.stage);
    const cur = path.findIndex((d) => d.key === sheet.stage);
    const visited = new Set((sheet.stages || []).map((c) => c.to));
    const stages = sheet.stages || [];
    fill(progress.querySelector('.body'),
      h('ol', { class: 'stage-path', id: 'stage-path' }, path.map((d, i) => h('li', {
        class: `${i < cur || visited.has(d.key) ? 'reached' : ''}${d.key === sheet.stage ? ' current' : ''}${d.lost ? ' lost' : ''}`,
        dataset: { stage: d.key },
        'aria-current': d.key === sheet.stage ? 'step' : null,
      }, stageLabel(stageDefs, d.key)))),
      stages.length === 0 ? null
        : h('table', { class: 'data', id: 'stage-changes' },
          h('thead', null, h('tr', null, th('col.at'), th('col.change'), th('col.content'))),
          h('tbody', null, stages.map((c) => h('tr', { dataset: { to: c.to } },
            h('td', null, h('time', { datetime: c.at }, fmtTime(c.at))),
            h('td', null, `${stageLabel(stageDefs, c.from)} → ${stageLabel(stageDefs, c.to)}`),
            h('td', null, c.note || '', c.author ? h('span', { class: 'muted' }, ` — ${c.author}`) : null))))));

    // 4. Next plans.
    const pl = sheet.plans || [];
    const nowMs = Date.now();
    fill(plans.querySelector('.body'), pl.length === 0 ? empty()
      : h('table', { class: 'data', id: 'plan-table' },
        h('thead', null, h('tr', null, th('col.due'), th('col.method'), th('col.content'), th('col.status'))),
        h('tbody', null, pl.map((p) => {
          const state = p.done ? 'done' : (Date.parse(p.due) < nowMs ? 'overdue' : 'open');
          return h('tr', { dataset: { plan: p.id, state } },
            h('td', null, h('time', { datetime: p.due }, fmtTime(p.due))),
            h('td', null, methodLabel(p.method)),
            h('td', null, p.content || ''),
            h('td', null, h('span', { class: `badge ${state}` }, t(`plan.${state}`))));
        }))));

    // Customer feedback.
    const fb = sheet.feedback || [];
    fill(feedback.querySelector('.body'), fb.length === 0 ? empty()
      : h('ol', { class: 'entries', id: 'feedback-list' }, fb.map((f) => h('li', { dataset: { feedback: f.id } },
        h('div', { class: 'entry-head' }, h('time', { datetime: f.at }, fmtTime(f.at)), h('span', { class: 'muted' }, f.author || '')),
        h('p', { class: 'content' }, f.content || '')))));

    // Timeline, newest first on screen; each row can become the as-of time.
    const tl = groupTimeline(sheet.timeline || []).reverse();
    fill(timeline.querySelector('.body'), tl.length === 0 ? empty()
      : h('div', { class: 'scroll-y' }, h('table', { class: 'data', id: 'timeline-table' },
        h('thead', null, h('tr', null, th('col.at'), th('col.user'), th('col.device'), th('col.change'), h('th'))),
        h('tbody', null, tl.map((g) => {
          const a = actionNodes(stageDefs, fieldDefs, g);
          return h('tr', { dataset: { table: g.table, record: g.record, kind: a.kind, fields: g.entries.map((e) => e.field).join(','), at: g.at } },
            h('td', null, h('time', { datetime: g.at }, fmtTime(g.at))),
            h('td', null, g.user || ''),
            h('td', { title: g.device || '' }, h('code', null, shortId(g.device))),
            h('td', { class: 'change' }, ...a.nodes),
            h('td', null, h('button', {
              type: 'button', class: 'link', dataset: { asOf: g.at, i18n: 'sheet.asof.row' },
              onclick: () => setAsOf(g.at),
            }, t('sheet.asof.row'))));
        })))));
  }

  async function update() {
    const my = ++seq;
    try {
      const data = await api(`/api/customers/${encodeURIComponent(id)}${query({ as_of: asOf })}`);
      if (my !== seq) return;
      sheet = data;
      status.textContent = '';
      status.classList.remove('error');
      render();
    } catch (e) {
      if (e.status === 401 || my !== seq) return;
      sheet = null;
      const key = e.status === 403 ? 'error.forbidden' : e.status === 404 ? 'error.notfound' : null;
      status.textContent = key ? t(key) : t('error.load', { msg: e.message });
      status.classList.add('error');
      view.dataset.asOf = asOf || '';
      title.textContent = shortId(id);
      for (const s of [basic, followups, progress, plans, feedback, timeline]) fill(s.querySelector('.body'));
    }
  }

  return { update, relabel: render, destroy() {} };
}
