// teams.js — the team filter (GET /api/teams): teams nest, and choosing a
// team shows it and every team below it (the server applies ?team= inside
// the caller's own scope, so the choice can only narrow what is shown).
// The select lists the tree in order, each team indented under its
// parent; it stays hidden for a caller with no team to choose (a rep).

import { api } from './api.js';
import { h, fill } from './dom.js';
import { t } from './i18n.js';

// The teams in tree order with their depth: [{team, parent, depth}].
export function teamTree(teams) {
  const names = new Set(teams.map((x) => x.team));
  const kids = new Map();
  for (const x of teams) {
    // A parent the caller cannot see (a manager's own team's parent)
    // makes its child a root of what is shown.
    const p = x.parent && names.has(x.parent) ? x.parent : '';
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(x);
  }
  const out = [];
  const walk = (p, depth) => {
    for (const x of (kids.get(p) || []).sort((a, b) => a.team.localeCompare(b.team))) {
      if (depth > 32) return;
      out.push({ ...x, depth });
      walk(x.team, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

export function teamSelect(id) {
  return h('select', { id, name: 'team', hidden: true, dataset: { i18nAriaLabel: 'col.team' }, 'aria-label': t('col.team') });
}

// Fill sel with the caller's teams (value kept if still there); hidden
// when there is nothing to choose.
export async function loadTeams(sel, value) {
  let teams = [];
  try {
    teams = (await api('/api/teams')).teams || [];
  } catch (e) {
    if (e.status === 401) return;
    teams = [];
  }
  const tree = teamTree(teams);
  fill(sel, h('option', { value: '' }, t('cust.team.any')),
    tree.map((x) => h('option', { value: x.team, dataset: { depth: x.depth, parent: x.parent || '' } },
      `${'\u2003'.repeat(x.depth)}${x.team}`)));
  sel.value = tree.some((x) => x.team === value) ? value : '';
  sel.hidden = tree.length === 0;
}
