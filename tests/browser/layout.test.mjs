// layout.test.mjs — the dashboard fits a phone and a desktop, in Chinese and
// in English (issue 13, layout).  A week of realistic data (two reps with a
// manager, 20 Chinese customers with long company names, ~30 follow-ups,
// won and lost deals, plans, birthdays, one conflict) goes in through the
// real `fieldsync` CLI and a real server; then each page is taken at 390 px
// (a phone) and 1400 px wide in both languages, screenshotted
// (layout-<page>-<lang>-<width>.png in FIELDSYNC_SCREENSHOT_DIR), and
// checked:
//  - the page never scrolls sideways (scrollWidth <= innerWidth);
//  - no element is wider than its card (a wide table may scroll inside a
//    scroll box within its card, nothing else);
//  - no Chinese text is broken into a column of one or two characters;
//  - counts read as English does: "1 conflict", not "1 conflicts".

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  launchBrowser, newPage, screenshot, signIn, Server, waitIn,
} from './lib/harness.mjs';

const DAY = 86_400_000;
const ymd = (ms) => new Date(ms).toISOString().slice(0, 10);

const CUSTOMERS = [
  ['张伟', '华星科技有限公司', '采购经理'],
  ['李娜', '上海浦东新区国际物流集团股份有限公司', '物流总监'],
  ['欧阳娜娜', '深圳市南山区智能制造研究院', '总经理助理'],
  ['王秀英', '北京朝阳建筑设计事务所', '首席设计师'],
  ['刘洋', '杭州西湖电子商务有限公司', '运营经理'],
  ['陈静', '广州白云国际会展中心', '市场部主管'],
  ['杨帆', '成都高新区软件园开发有限公司', '技术总监'],
  ['赵磊', '武汉长江航运集团', '调度主任'],
  ['黄敏', '南京紫金山精密仪器厂', '采购专员'],
  ['周杰', '苏州工业园区新材料股份有限公司', '副总经理'],
  ['吴刚', '天津滨海新区港口物流有限公司', '仓储经理'],
  ['徐丽', '重庆两江新区汽车零部件制造有限公司', '质量经理'],
  ['孙强', '西安高新技术产业开发区电子科技有限公司', '研发主管'],
  ['胡军', '青岛海尔智家供应链管理有限公司', '采购经理'],
  ['朱琳', '厦门国际贸易集团', '外贸经理'],
  ['高峰', '长沙岳麓山文化传媒有限公司', '创意总监'],
  ['林涛', '福州马尾造船股份有限公司', '设备部经理'],
  ['何平', '郑州航空港经济综合实验区物流园', '园区主任'],
  ['郭晶', '合肥科学岛量子信息技术有限公司', '行政经理'],
  ['马超', '昆明滇池国际旅游度假区酒店管理公司', '总经理'],
];

const FOLLOWUPS = [
  '上门拜访，演示了系统的报表功能，对方对移动端离线录入很感兴趣，约下周带技术负责人再谈',
  '电话沟通预算，客户表示今年第四季度有采购计划，需要我们先发一份详细报价单',
  '微信发送产品资料和三个同行业案例，客户已读未回',
  '在展会上见面，交换名片，简单介绍了公司和产品',
];

describe('dashboard layout at 390 px and 1400 px, in Chinese and English', { timeout: 300_000 }, () => {
  let server;
  let browser;
  let page;
  const ids = [];
  const problems = [];

  before(async () => {
    server = new Server();
    await server.init();
    await server.addUser('manager_zhou', 'manager', 'east');
    await server.addUser('wangfang', 'rep', 'east');
    await server.addUser('liuyang_sales', 'rep', 'east');
    await server.start();
    const wang = await server.device('wang-laptop', 'wangfang');
    const wangPhone = await server.device('wang-phone', 'wangfang');
    const liu = await server.device('liu-laptop', 'liuyang_sales');

    const now = Date.now();
    for (let i = 0; i < CUSTOMERS.length; i++) {
      const [name, company, title] = CUSTOMERS[i];
      const dev = i % 2 ? liu : wang;
      const opts = { company, title, phone: `1380013${String(8000 + i)}` };
      if (i % 3 === 0) { opts.amount = 50000 * (i + 1); opts['expected-close'] = ymd(now + (i + 10) * DAY); }
      if (i === 2) opts.birthday = `1988-${ymd(now + 2 * DAY).slice(5)}`;
      if (i === 5) opts.birthday = ymd(now + 5 * DAY).slice(5);   // no year
      if (i === 7) opts.notes = '客户偏好下午联系；不喝咖啡，喜欢绿茶。办公室在园区B栋12层，停车需要提前登记。';
      const c = await dev.addCustomer(name, opts);
      ids.push(c.id);
      await dev.followup(c.id, FOLLOWUPS[i % FOLLOWUPS.length], { method: i % 2 ? 'phone' : 'visit', result: i % 3 ? '约下周报价' : undefined });
      if (i % 2 === 0) await dev.followup(c.id, FOLLOWUPS[(i + 1) % FOLLOWUPS.length], { method: 'wechat' });
      const stages = ['intent', 'proposal', 'quote', 'contract'];
      if (i < 12) await dev.stage(c.id, stages[i % 4], '需求已确认');
      if (i === 3 || i === 8) await dev.stage(c.id, 'won', '合同已签，首付款到账');
      if (i === 4 || i === 9) await dev.stage(c.id, 'lost', '客户选择了竞争对手，价格差距太大');
      if (i % 4 === 1) await dev.plan(c.id, ymd(now - 2 * DAY), '带样品再次拜访，确认技术参数');
      if (i % 4 === 2) await dev.plan(c.id, ymd(now + 3 * DAY), '电话确认报价和交货期');
    }
    await wang.sync();
    await liu.sync();
    // One conflict: both of wangfang's devices change 张伟's phone.
    await wangPhone.sync();
    await wang.edit(ids[0], { phone: '13900000001' });
    await wangPhone.edit(ids[0], { phone: '13900000002' });
    await wang.sync();
    await wangPhone.sync();

    browser = await launchBrowser();
    page = await newPage(browser);
    await signIn(page, server, 'manager_zhou');
  });

  after(async () => {
    if (page) await page.context().close().catch(() => {});
    if (browser) await browser.close();
    if (server) {
      if (process.exitCode) console.error(server.logText());
      await server.stop();
    }
  });

  // What overflows on the page now: a list of sentences (empty: fits).
  function overflow() {
    return page.evaluate(() => {
      const out = [];
      const vw = window.innerWidth;
      const name = (el) => {
        let s = el.tagName.toLowerCase();
        if (el.id) s += `#${el.id}`;
        else if (el.className && typeof el.className === 'string') s += `.${el.className.trim().split(/\s+/).join('.')}`;
        const card = el.closest('[id]');
        return card && card !== el ? `${s} in #${card.id}` : s;
      };
      const visible = (el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) return false;
        const cs = getComputedStyle(el);
        return cs.visibility !== 'hidden' && cs.display !== 'none';
      };
      const se = document.scrollingElement;
      if (se.scrollWidth > vw) out.push(`the page scrolls sideways: ${se.scrollWidth} px in a ${vw} px window`);
      const scroller = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
      for (const card of document.querySelectorAll('.card, .kpi, .asof, .banner, .topbar')) {
        if (!visible(card)) continue;
        const cr = card.getBoundingClientRect();
        if (cr.left < -0.5 || cr.right > vw + 0.5) out.push(`${name(card)} reaches outside the window (${Math.round(cr.left)}..${Math.round(cr.right)})`);
        for (const el of card.querySelectorAll('*')) {
          if (!visible(el)) continue;
          // Inside a scroll box of the card: it may be wide (a table).
          let inScroll = false;
          for (let p = el.parentElement; p && p !== card.parentElement; p = p.parentElement) {
            if (scroller(p)) { inScroll = true; break; }
          }
          if (inScroll) continue;
          const r = el.getBoundingClientRect();
          if (r.right > cr.right + 1 || r.left < cr.left - 1) {
            out.push(`${name(el)} is wider than its card ${name(card)} (${Math.round(r.left)}..${Math.round(r.right)} in ${Math.round(cr.left)}..${Math.round(cr.right)})`);
          }
        }
      }
      // Chinese text in a column: two or more lines of at most ~2 characters.
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent.trim();
        if ((text.match(/[\u3400-\u9fff]/g) || []).length < 3 || !n.parentElement || !visible(n.parentElement)) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        const rects = [...range.getClientRects()].filter((r) => r.width > 0);
        const fs = parseFloat(getComputedStyle(n.parentElement).fontSize);
        if (rects.length >= 2 && Math.max(...rects.map((r) => r.width)) < 2.2 * fs) {
          out.push(`"${text.slice(0, 20)}" in ${name(n.parentElement)} is broken into a column (${rects.length} lines)`);
        }
      }
      return [...new Set(out)].slice(0, 30);
    });
  }

  async function setLang(lang) {
    await page.evaluate((l) => localStorage.setItem('fieldsync.lang', l), lang);
  }

  const PAGES = {
    dashboard: {
      go: () => page.goto(`${server.url}/#/dashboard`),
      ready: () => document.querySelectorAll('#reps-table tbody tr').length > 0
        && document.querySelectorAll('#funnel-table tbody tr').length > 0,
    },
    customers: {
      go: () => page.goto(`${server.url}/#/customers`),
      ready: () => document.querySelectorAll('#cust-table tbody tr').length === 20,
    },
    customer: {
      go: () => page.goto(`${server.url}/#/customers/${ids[7]}`),
      ready: () => !!document.querySelector('#sheet-basic dd[data-field="phone"]')
        && document.querySelectorAll('#timeline-table tbody tr').length > 0,
    },
  };

  for (const lang of ['zh', 'en']) {
    for (const width of [390, 1400]) {
      for (const [what, p] of Object.entries(PAGES)) {
        test(`${what}, ${lang}, ${width} px: nothing wider than the window or its card`, async () => {
          await page.setViewportSize({ width, height: 900 });
          await setLang(lang);
          await p.go();
          await page.reload();
          await waitIn(page, `the ${what} page`, p.ready);
          await waitIn(page, `language ${lang}`, (l) => document.documentElement.lang === (l === 'zh' ? 'zh-CN' : 'en'), lang);
          // Let the charts settle at their size before measuring.
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          await screenshot(page, `layout-${what}-${lang}-${width}`);
          const found = await overflow();
          if (found.length) problems.push(`${what} ${lang} ${width}: ${found.join('; ')}`);
          assert.deepEqual(found, []);
        });
      }
    }
  }

  test('"1 conflict" in English, one badge for the customer with one conflict', async () => {
    await page.setViewportSize({ width: 1400, height: 900 });
    await setLang('en');
    await page.goto(`${server.url}/#/customers`);
    await page.reload();
    await waitIn(page, 'the list', PAGES.customers.ready);
    const badge = await page.locator(`#cust-table tr[data-customer="${ids[0]}"] .badge.warn`).textContent();
    assert.equal(badge, '1 conflict');
    const text = await page.locator('body').textContent();
    assert.ok(!/\b1 conflicts\b/.test(text), 'no "1 conflicts" anywhere');
    assert.ok(!/\b1 customers\b/.test(text), 'no "1 customers" anywhere');
    assert.deepEqual(page.problems, []);
  });
});
