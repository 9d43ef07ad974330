// harness.mjs — a real fieldsync-server fed by real devices (the fieldsync
// CLI), and headless Debian Chromium driven by playwright-core.  Every
// process started here is stopped by stop()/close(); every wait is bounded.
//
// Environment (ctest sets these; see CMakeLists.txt):
//   FIELDSYNC_SERVER_BIN   the fieldsync-server binary
//   FIELDSYNC_BIN          the fieldsync (device CLI) binary
//   FIELDSYNC_WEB_DIR      the built dashboard (sync-server/web/build.sh output)
//   FIELDSYNC_SCREENSHOT_DIR  where screenshots go (the build folder)
//   CHROMIUM_BIN           default /usr/bin/chromium

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const CMD_TIMEOUT_MS = 30_000;
export const START_TIMEOUT_MS = 15_000;
export const STOP_TIMEOUT_MS = 5_000;
export const UI_TIMEOUT_MS = 15_000;

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through ctest, or export it)`);
  return v;
}

export function config() {
  return {
    serverBin: need('FIELDSYNC_SERVER_BIN'),
    cliBin: need('FIELDSYNC_BIN'),
    webDir: need('FIELDSYNC_WEB_DIR'),
    shots: process.env.FIELDSYNC_SCREENSHOT_DIR || path.join(os.tmpdir(), 'fieldsync-screenshots'),
    chromium: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  };
}

// The server and devices run in UTC so weekday/hour figures and the as-of
// picker (the browser context is in UTC too) are the same on every machine.
const CHILD_ENV = { ...process.env, TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', NO_COLOR: '1' };

// Run a command to completion; throw with its stderr when it fails.
export function run(bin, args, { timeout = CMD_TIMEOUT_MS, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout, env: { ...CHILD_ENV, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeout} ms` : `exit ${err.code}`;
          reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${why}\n${stderr}`));
        } else resolve({ stdout, stderr });
      });
  });
}

export async function runJson(bin, args, opts) {
  const { stdout } = await run(bin, [...args, '--json'], opts);
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`${path.basename(bin)} ${args.join(' ')}: not JSON: ${stdout.slice(0, 500)}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// One HTTPS request to the server, trusting its private CA.
export function request(srv, pathname, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: srv.port, path: pathname, method, headers,
      ca: srv.ca, servername: undefined, timeout: 10_000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export class Server {
  constructor() {
    this.cfg = config();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fieldsync-browser-'));
    this.data = path.join(this.dir, 'srv');
    this.proc = null;
    this.log = [];
    this.tokens = {};
    this.devices = [];
  }

  async init() {
    const out = await runJson(this.cfg.serverBin, ['init', '--data', this.data]);
    this.tokens[out.user] = out.token;
    this.caPath = path.join(this.data, 'ca.pem');
    this.ca = fs.readFileSync(this.caPath);
    return out;
  }

  async addUser(name, role, team) {
    const args = ['user', 'add', name, '--role', role, '--data', this.data];
    if (team) args.push('--team', team);
    const out = await runJson(this.cfg.serverBin, args);
    this.tokens[name] = out.token;
    return out.token;
  }

  async start() {
    this.port = await freePort();
    this.url = `https://127.0.0.1:${this.port}`;
    this.proc = spawn(this.cfg.serverBin,
      ['serve', '--data', this.data, '--listen', `127.0.0.1:${this.port}`],
      { env: { ...CHILD_ENV, FIELDSYNC_WEB_DIR: this.cfg.webDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.log.push(d.toString()); if (this.log.length > 400) this.log.shift(); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    // If this test process dies before stop() (a timeout, a crash), the
    // server must not outlive it.
    const proc = this.proc;
    this.onExit = () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); };
    process.on('exit', this.onExit);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`fieldsync-server exited at start:\n${this.logText()}`);
      try {
        await request(this, '/');
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`fieldsync-server not answering on ${this.url}: ${e.message}\n${this.logText()}`);
        await sleep(100);
      }
    }
  }

  logText() { return this.log.join('').split('\n').slice(-60).join('\n'); }

  async device(name, user) {
    const d = new Device(this, name, user);
    await d.init();
    this.devices.push(d);
    return d;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const done = await Promise.race([this.exited, sleep(STOP_TIMEOUT_MS).then(() => null)]);
      if (!done) {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    this.proc = null;
    if (this.onExit) process.off('exit', this.onExit);
    if (!process.env.FIELDSYNC_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// One rep's device: a replica file driven through the fieldsync CLI.
export class Device {
  constructor(server, name, user) {
    this.server = server;
    this.name = name;
    this.user = user;
    this.db = path.join(server.dir, `${name}.db`);
  }

  cli(args) { return runJson(this.server.cfg.cliBin, ['--db', this.db, ...args]); }

  init() {
    return this.cli(['init', '--server', `wss://127.0.0.1:${this.server.port}`,
      '--token', this.server.tokens[this.user], '--ca', this.server.caPath]);
  }

  async addCustomer(name, opts = {}) {
    const args = ['customer', 'add', '--name', name];
    for (const [k, v] of Object.entries(opts)) args.push(`--${k}`, String(v));
    return this.cli(args);
  }

  edit(id, opts) {
    const args = ['customer', 'edit', id];
    for (const [k, v] of Object.entries(opts)) args.push(`--${k}`, String(v));
    return this.cli(args);
  }

  followup(id, content, { method = 'phone', at, result } = {}) {
    const args = ['followup', 'add', id, '--method', method, '--content', content];
    if (at) args.push('--at', at);
    if (result) args.push('--result', result);
    return this.cli(args);
  }

  stage(id, stage, note) {
    const args = ['stage', id, stage];
    if (note) args.push('--note', note);
    return this.cli(args);
  }

  plan(id, at, content, method = 'visit') {
    return this.cli(['plan', id, '--at', at, '--method', method, '--content', content]);
  }

  async sync() {
    const out = await this.cli(['sync']);
    if (out.refused) throw new Error(`${this.name}: server refused ${out.refused} changes`);
    return out;
  }
}

// ---- Browser ------------------------------------------------------------

// Headless Debian Chromium.  Playwright starts it with a fresh, temporary
// --user-data-dir of its own (and deletes it on close); it rejects one in
// args, so the flags below are the rest of what this machine needs.
export async function launchBrowser() {
  const cfg = config();
  if (!fs.existsSync(cfg.chromium)) throw new Error(`${cfg.chromium} not found (scripts/setup-web.sh installs it)`);
  return chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    timeout: START_TIMEOUT_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}

// A browser context (its own cookie jar) that trusts nothing but accepts
// the test server's private certificate, in UTC.
export async function newPage(browser, { locale = 'en-US' } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    timezoneId: 'UTC',
    locale,
    viewport: { width: 1366, height: 900 },
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A 401 from /api/me before sign-in is expected; anything else is not.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  // Content-Security-Policy violations (inline script/style) fail the test.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return page;
}

export async function screenshot(page, name) {
  const dir = config().shots;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function signIn(page, server, user) {
  await page.goto(`${server.url}/`);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#token', server.tokens[user]);
  await page.click('#signin-submit');
  await page.locator('#who-user').waitFor({ state: 'visible' });
}

// Wait until fn (run in the page) returns truthy; fail with a description.
export async function waitIn(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: UI_TIMEOUT_MS });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

export { sleep };
