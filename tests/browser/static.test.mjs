// static.test.mjs — the dashboard's files as the real fieldsync-server
// serves them, and the sign-in page in headless Chromium (English and
// Chinese).  Needs only the static file serving of docs/API.md, plus
// POST /api/login for the bad-token check.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, newPage, request, screenshot, Server } from './lib/harness.mjs';

describe('dashboard static files and sign-in page', { timeout: 120_000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = new Server();
    await server.init();
    await server.start();
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  test('GET / is the dashboard page, with the security headers', async () => {
    const res = await request(server, '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    const html = res.body.toString('utf8');
    assert.match(html, /data-app="fieldsync"/, 'index.html of sync-server/web, not the built-in page');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler');
    const csp = res.headers['content-security-policy'];
    assert.ok(csp, 'Content-Security-Policy is sent');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  test('the app, its modules and the chart library are served with their types', async () => {
    for (const [p, type] of [['/app.js', /javascript/], ['/js/i18n.js', /javascript/],
      ['/style.css', /^text\/css/], ['/vendor/chart.umd.js', /javascript/]]) {
      const res = await request(server, p);
      assert.equal(res.status, 200, p);
      assert.match(res.headers['content-type'], type, p);
      assert.ok(res.body.length > 100, `${p} has content`);
    }
    const chart = await request(server, '/vendor/chart.umd.js');
    assert.match(chart.body.toString('utf8', 0, 400), /Chart\.js/, 'Chart.js from node_modules');
  });

  test('paths outside the web folder are not served', async () => {
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/js/../../CMakeLists.txt', '/nope.js']) {
      const res = await request(server, p);
      assert.ok(res.status === 404 || res.status === 400 || res.status === 403, `${p} -> ${res.status}`);
      assert.doesNotMatch(res.body.toString('utf8'), /root:|cmake_minimum_required/);
    }
  });

  test('the sign-in page renders in English with no script or CSP errors', async () => {
    const page = await newPage(browser, { locale: 'en-US' });
    await page.goto(`${server.url}/`);
    await page.locator('#signin').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#signin-title').textContent(), 'Sign in');
    assert.equal(await page.getAttribute('#token', 'type'), 'password');
    assert.equal(await page.locator('#nav').isVisible(), false, 'no navigation before sign-in');
    assert.equal(await page.evaluate(() => typeof window.Chart), 'function', 'Chart.js loaded from /vendor');
    await screenshot(page, 'signin');
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('a Chinese browser gets the Chinese sign-in page; the switch changes it', async () => {
    const page = await newPage(browser, { locale: 'zh-CN' });
    await page.goto(`${server.url}/`);
    await page.locator('#signin').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#signin-title').textContent(), '登录');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await screenshot(page, 'signin-zh');
    await page.selectOption('#lang', 'en');
    assert.equal(await page.locator('#signin-title').textContent(), 'Sign in');
    await page.reload();
    await page.locator('#signin').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#signin-title').textContent(), 'Sign in', 'the choice is kept');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('a wrong token is refused and the page stays on sign-in', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.url}/`);
    await page.locator('#signin').waitFor({ state: 'visible' });
    await page.fill('#token', 'fs_0000000000000000000000000000000000000000000000000000000000000000');
    await page.click('#signin-submit');
    await page.locator('#signin-error').waitFor({ state: 'visible' });
    assert.equal(await page.getAttribute('#signin-error', 'data-status'), '401');
    assert.equal(await page.locator('#main').isVisible(), false);
    assert.deepEqual((await page.context().cookies()).filter((c) => c.name === 'fs_session'), []);
    await page.context().close();
  });
});
