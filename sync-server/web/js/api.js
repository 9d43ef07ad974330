// api.js — the JSON API (docs/API.md).  The session cookie authenticates
// every call (credentials: same-origin); the token itself is sent once, in
// the body of POST /api/login, and never kept by the page.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const unauthorizedListeners = new Set();
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); }

export async function api(path, opts = {}) {
  return (await request(path, opts)).data;
}

// One page of a paged list (GET /api/customers): the rows, the next page's
// path from the Link header (null on the last page) and X-Total-Count.
export async function apiPage(path, opts = {}) {
  const { data, res } = await request(path, opts);
  const link = res.headers.get('Link') || '';
  const m = /<([^>]*)>\s*;\s*rel="next"/.exec(link);
  const total = Number(res.headers.get('X-Total-Count'));
  return { rows: data || [], next: m ? m[1] : null, total: Number.isFinite(total) ? total : (data || []).length };
}

async function request(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, e.message || 'network error');
  }
  if (res.status === 204) return { data: null, res };
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== '/api/login') {
      for (const fn of unauthorizedListeners) fn();
    }
    throw new ApiError(res.status, msg);
  }
  return { data, res };
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
