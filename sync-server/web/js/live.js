// live.js — the server's push channel: wss://HOST/live, subprotocol
// "fieldsync.live", authenticated by the session cookie.  Calls onChanged
// with the new head on each {"type":"changed"} (and on a reconnect that
// finds the head moved while we were away); reconnects with backoff
// (1 s doubling to 30 s) until stop().

const PROTOCOL = 'fieldsync.live';
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export function startLive({ onChanged, onState }) {
  let ws = null;
  let stopped = false;
  let timer = null;
  let backoff = BACKOFF_MIN_MS;
  let lastHead = null;

  function setState(s) { if (onState) onState(s); }

  function connect() {
    if (stopped) return;
    setState('connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    try {
      ws = new WebSocket(`${scheme}//${location.host}/live`, PROTOCOL);
    } catch {
      schedule();
      return;
    }
    ws.addEventListener('open', () => {
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
        onChanged(msg.head);
      }
    });
    ws.addEventListener('close', () => {
      ws = null;
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
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
      ws = null;
      setState('off');
    },
  };
}
