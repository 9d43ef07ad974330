// live.js — the server's push channel: wss://HOST/live, subprotocol
// "fieldsync.live", authenticated by the session cookie.  Calls onChanged
// with the new head on each {"type":"changed"} (and on a reconnect that
// finds the head moved while we were away); reconnects with backoff
// (1 s doubling to 30 s) until stop().
//
// query() (optional) gives the URL's parameters, e.g. "figures=1&tz=ZONE&team=T":
// with figures=1 each "changed" carries the scope's summary and analysis,
// handed to onChanged(head, { summary, analysis, query }) so the dashboard
// redraws without a request.  A socket with parameters that closes before
// opening (a zone or team the server refuses: 400) is retried bare, and
// the page fetches as before.  reconnect() reopens with the current query().

const PROTOCOL = 'fieldsync.live';
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export function startLive({ onChanged, onState, query }) {
  let ws = null;
  let stopped = false;
  let timer = null;
  let backoff = BACKOFF_MIN_MS;
  let lastHead = null;
  let bare = false;      // the parameters were refused: plain /live

  function setState(s) { if (onState) onState(s); }

  function connect() {
    if (stopped) return;
    setState('connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = !bare && query ? query() : '';
    let opened = false;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/live${q ? `?${q}` : ''}`, PROTOCOL);
    } catch {
      schedule();
      return;
    }
    const sock = ws;
    ws.addEventListener('open', () => {
      opened = true;
      backoff = BACKOFF_MIN_MS;
      setState('live');
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'hello') {
        // A reconnect: anything missed while away shows as a moved head.
        if (lastHead !== null && msg.head !== lastHead) onChanged(msg.head);
        lastHead = msg.head;
      } else if (msg.type === 'changed') {
        lastHead = msg.head;
        const figures = msg.summary && msg.analysis ? { summary: msg.summary, analysis: msg.analysis, query: q } : null;
        onChanged(msg.head, figures);
      }
    });
    ws.addEventListener('close', () => {
      if (ws !== sock) return;      // replaced by reconnect()
      ws = null;
      if (q && !opened) bare = true;
      if (!stopped) schedule();
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  function schedule() {
    setState('offline');
    clearTimeout(timer);
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }

  connect();
  return {
    reconnect() {
      if (stopped) return;
      clearTimeout(timer);
      const old = ws;
      ws = null;
      if (old) old.close(1000);
      connect();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
      ws = null;
      setState('off');
    },
  };
}
