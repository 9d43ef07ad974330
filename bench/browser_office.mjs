// bench/browser_office.mjs — the dashboard in a real browser on a company-sized
// store (issue 19: "the page is interactive within 2 s on this machine class,
// asserted loosely in a benchmark, not a timed test").
//
//   bench/browser_office.sh [CUSTOMERS_PER_REP [FOLLOWUPS_PER_CUSTOMER]]
//
// The shell wrapper builds the store with bench_office (10 reps x
// CUSTOMERS_PER_REP customers, FOLLOWUPS_PER_CUSTOMER follow-ups each; the
// defaults give 10,000 customers and 50,000 follow-ups), keeps it, and runs
// this script with node.  This script adds a head-office user, serves the
// store on 127.0.0.1 only, and drives headless Debian Chromium (playwright-
// core from tests/browser) through what a manager does first thing:
//
//   sign-in   token submitted -> the dashboard's KPIs and funnel drawn
//   list      the customers route -> its first page of rows shown
//   scroll    the list scrolled to its end 3 times -> 3 more pages shown
//   search    a name typed -> the server's answer shown
//   sheet     one customer opened -> its timeline shown
//
// For each step it prints the wall time and the page's long tasks (main
// thread busy > 50 ms, PerformanceObserver "longtask") during the step:
// the "stalls" the issue asks about.  The largest time and long task are
// compared with the loose 2 s target at the end (a line, not an exit code:
// the machine is shared).  Every wait is bounded; the server is stopped
// and the kept store removed by the wrapper.
//
// Environment (set by the wrapper): FIELDSYNC_SERVER_BIN, FIELDSYNC_BIN,
// FIELDSYNC_WEB_DIR, BENCH_DATA (the kept store's data folder).

import fs from 'node:fs';
import os from 'node:os';
import { Server, launchBrowser, newPage, signIn, waitIn, runJson } from '../tests/browser/lib/harness.mjs';

const data = process.env.BENCH_DATA;
if (!data || !fs.existsSync(data)) {
  console.error('browser_office: BENCH_DATA must name the data folder bench_office kept');
  process.exit(2);
}

// Serve the kept store: the harness's Server, pointed at it.
const server = new Server();
server.data = data;
server.caPath = `${data}/ca.pem`;
server.ca = fs.readFileSync(server.caPath);
const out = await runJson(server.cfg.serverBin, ['user', 'add', 'hq_browser', '--role', 'manager',
  '--team', '*', '--data', data]);
server.tokens.hq_browser = out.token;

const rows = [];
let browser;
let page;
try {
  await server.start();
  browser = await launchBrowser();
  page = await newPage(browser);
  // Long tasks from the first script on, kept in the page.
  await page.addInitScript(() => {
    window.__long = [];
    try {
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) window.__long.push({ start: e.startTime, ms: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch { /* no longtask support: none reported */ }
  });

  const step = async (name, fn) => {
    const t0 = await page.evaluate(() => performance.now()).catch(() => 0);
    const w0 = Date.now();
    await fn();
    const ms = Date.now() - w0;
    const long = await page.evaluate((since) => window.__long.filter((e) => e.start >= since), t0);
    const worst = long.reduce((m, e) => Math.max(m, e.ms), 0);
    rows.push({ name, ms, long: long.length, worst: Math.round(worst) });
  };

  // BENCH_PROFILE=1: a CPU profile of the sign-in step (the page's
  // scripts), summed by function: where a long task's time goes.
  const cdp = process.env.BENCH_PROFILE ? await page.context().newCDPSession(page) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  await step('sign-in', async () => {
    await signIn(page, server, 'hq_browser');
    await waitIn(page, 'the KPIs', () => {
      const k = document.querySelector('[data-kpi="customers"]');
      return k && Number(k.dataset.value) > 0;
    });
    await waitIn(page, 'the funnel', () => document.querySelectorAll('#funnel-table tbody tr').length > 0);
  });
  const total = Number(await page.getAttribute('[data-kpi="customers"]', 'data-value'));
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop');
    const self = new Map();
    const dt = new Map();
    for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) || 0) + (profile.timeDeltas[i] || 0));
    for (const n of profile.nodes) {
      const cf = n.callFrame;
      const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
      self.set(key, (self.get(key) || 0) + (dt.get(n.id) || 0));
    }
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.log('sign-in profile, self time (ms):');
    for (const [k, us] of top) console.log(`  ${(us / 1000).toFixed(1).padStart(7)}  ${k}`);
  }

  await step('list', async () => {
    await page.click('#nav a[data-route="customers"]');
    await waitIn(page, 'the first page', () => document.querySelectorAll('#cust-table tbody tr').length >= 50);
  });

  await step('scroll x3', async () => {
    for (let k = 0; k < 3; k++) {
      const have = await page.$$eval('#cust-table tbody tr', (t) => t.length);
      await page.locator('#cust-more').scrollIntoViewIfNeeded();
      await waitIn(page, `page ${k + 2}`, (n) => document.querySelectorAll('#cust-table tbody tr').length > n, have);
    }
  });
  const shown = await page.$$eval('#cust-table tbody tr', (t) => t.length);

  await step('search', async () => {
    const name = await page.$eval('#cust-table tbody tr th a', (a) => a.textContent);
    await page.fill('#cust-search', name);
    await waitIn(page, 'the search answer', (n) => {
      const rs = document.querySelectorAll('#cust-table tbody tr th a');
      return rs.length > 0 && rs.length < 50 && [...rs].every((a) => a.textContent.includes(n));
    }, name);
  });

  await step('sheet', async () => {
    await page.click('#cust-table tbody tr th a');
    await waitIn(page, 'the timeline', () => document.querySelectorAll('#timeline-table tbody tr').length > 0);
  });

  const cpu = os.cpus().length;
  const load = os.loadavg()[0].toFixed(2);
  console.log(`browser_office: ${total} customers visible to head office; ${shown} list rows after 3 scrolls;`
    + ` ${cpu} cores, load ${load} at the end`);
  console.log('step        wall ms  long tasks  longest ms');
  for (const r of rows) console.log(`${r.name.padEnd(11)} ${String(r.ms).padStart(7)}  ${String(r.long).padStart(10)}  ${String(r.worst).padStart(10)}`);
  const worstWall = Math.max(...rows.map((r) => r.ms));
  const worstLong = Math.max(...rows.map((r) => r.worst));
  console.log(`interactive within 2 s: ${worstWall <= 2000 ? 'yes' : 'NO'} (slowest step ${worstWall} ms);`
    + ` no stall over 200 ms: ${worstLong <= 200 ? 'yes' : 'NO'} (longest task ${worstLong} ms)`);
} catch (e) {
  console.error(`browser_office: ${e.message}`);
  if (server.proc) console.error(server.logText());
  process.exitCode = 1;
} finally {
  if (page) await page.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  // Server.stop() removes its own temp folder, not the kept store.
  await server.stop();
}
