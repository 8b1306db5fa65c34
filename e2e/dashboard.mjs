// Browser test of the spendlens dashboard against a running server.
// Started by crates/cli/tests/dashboard_browser.rs (which starts `spendlens
// demo` on a free port); can also be run by hand:
//   SPENDLENS_BASE=http://127.0.0.1:8080 SPENDLENS_ROLES='[...]' node dashboard.mjs
// SPENDLENS_ROLES: [{"role","org","user","token"}] for platform_admin,
// org_admin, team_lead and member. Exit status 0 = every check passed.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const base = process.env.SPENDLENS_BASE;
const roles = JSON.parse(process.env.SPENDLENS_ROLES || '[]');
const shots = process.env.SPENDLENS_SCREENSHOTS || new URL('./screenshots', import.meta.url).pathname;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(base, 'SPENDLENS_BASE is required');
mkdirSync(shots, { recursive: true });
const token = (role) => {
  const r = roles.find((x) => x.role === role);
  assert.ok(r, `no ${role} token in SPENDLENS_ROLES`);
  return r;
};

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const consoleErrors = [];
let expectForbidden = false;
let failed = false;

async function session(role, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    // The deliberate 403 page is reported by Chromium as a failed resource.
    if (m.type() === 'error' && !(expectForbidden && /status of 403/.test(m.text()))) {
      consoleErrors.push(`${role}: ${m.text()} (${page.url()})`);
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(`${role}: ${e.message} (${page.url()})`));
  await page.goto(`${base}/login`);
  await page.fill('input[name=token]', token(role).token);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return { context, page };
}

const path = (page) => new URL(page.url()).pathname;
const api = async (role, p) => {
  const r = await fetch(base + p, { headers: { authorization: `Bearer ${token(role).token}` } });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
};

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}\n${e.stack || e}`);
  }
}

const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

await step('each role lands on its own level', async () => {
  const org = token('org_admin').org;
  const lead = token('team_lead');
  const member = await api('platform_admin', `/v1/orgs/${lead.org}/members/${lead.user}`);
  const expected = {
    platform_admin: '/platform',
    org_admin: `/orgs/${org}`,
    team_lead: `/orgs/${lead.org}/teams/${member.team_id}`,
    member: `/orgs/${token('member').org}/users/${token('member').user}`,
  };
  const names = { platform_admin: 'platform', org_admin: 'organisation', team_lead: 'team', member: 'user' };
  for (const [role, want] of Object.entries(expected)) {
    const { context, page } = await session(role);
    assert.equal(path(page), want, `${role} landed on ${page.url()}`);
    assert.ok(await page.locator('h1').count(), `${role}: no heading`);
    await shot(page, names[role]);
    await context.close();
  }
});

await step('drill down platform → organisation → user → conversation by links', async () => {
  const org = token('org_admin').org;
  const { context, page } = await session('platform_admin');
  // The last 30 days always hold demo data, even on the first of a month.
  await page.goto(`${base}/platform?period=last_30d`);
  await Promise.all([page.waitForNavigation(), page.click(`#orgs-table a[href^="/orgs/${org}"]`)]);
  assert.equal(path(page), `/orgs/${org}`);
  await page.locator('#trend svg').waitFor();
  await Promise.all([page.waitForNavigation(), page.click('#users-table tbody a[href*="/users/"]')]);
  assert.match(path(page), new RegExp(`^/orgs/${org}/users/`));
  await shot(page, 'user-as-admin');
  await Promise.all([page.waitForNavigation(), page.click('#conversations-table a')]);
  assert.match(path(page), new RegExp(`^/orgs/${org}/conversations/`));
  assert.ok((await page.locator('#messages-table tbody tr').count()) > 0, 'no messages listed');
  await shot(page, 'conversation');
  await page.goto(`${base}/orgs/${org}`);
  await Promise.all([page.waitForNavigation(), page.click('#api-keys tbody a')]);
  assert.match(path(page), new RegExp(`^/orgs/${org}/api-keys/`));
  await shot(page, 'api-key');
  await page.goto(`${base}/orgs/${org}`);
  await Promise.all([page.waitForNavigation(), page.click('#departments svg a')]);
  assert.match(path(page), new RegExp(`^/orgs/${org}/departments/`));
  await shot(page, 'department');
  await context.close();
});

await step('the users table sorts by a column, both ways', async () => {
  const org = token('org_admin').org;
  const { context, page } = await session('org_admin');
  await page.goto(`${base}/orgs/${org}?period=last_30d`);
  const counts = async () =>
    page.$$eval('#users-table tbody td[data-count]', (tds) => tds.map((td) => Number(td.dataset.count)));
  await Promise.all([page.waitForNavigation(), page.click('#users-table a[data-sort=messages]')]);
  assert.equal(new URL(page.url()).searchParams.get('sort'), 'messages');
  const down = await counts();
  assert.ok(down.length > 1, 'too few users to sort');
  assert.deepEqual(down, [...down].sort((a, b) => b - a), `not descending: ${down}`);
  await Promise.all([page.waitForNavigation(), page.click('#users-table a[data-sort=messages]')]);
  const up = await counts();
  assert.deepEqual(up, [...up].sort((a, b) => a - b), `not ascending: ${up}`);
  assert.equal(path(page), `/orgs/${org}`);
  await context.close();
});

await step("a page's own table sorts in the browser", async () => {
  const org = token('org_admin').org;
  const { context, page } = await session('org_admin');
  await page.goto(`${base}/orgs/${org}?period=last_30d`);
  await Promise.all([page.waitForNavigation(), page.click('#api-keys tbody a')]);
  const table = '#users table.sortable';
  const messages = async () =>
    page.$$eval(`${table} tbody tr td:nth-child(5)`, (tds) => tds.map((td) => Number(td.dataset.v)));
  await page.click(`${table} th:nth-child(5)`);
  const down = await messages();
  assert.ok(down.length > 1, 'too few users to sort');
  assert.deepEqual(down, [...down].sort((a, b) => b - a), `not descending: ${down}`);
  await page.click(`${table} th:nth-child(5)`);
  const up = await messages();
  assert.deepEqual(up, [...up].sort((a, b) => a - b), `not ascending: ${up}`);
  assert.equal(await page.getAttribute(`${table} th:nth-child(5)`, 'aria-sort'), 'ascending');
  await context.close();
});

await step('the users CSV download equals the API', async () => {
  const org = token('org_admin').org;
  const { context, page } = await session('org_admin');
  await page.goto(`${base}/orgs/${org}?period=last_30d`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#users a.csv')]);
  assert.match(download.suggestedFilename(), new RegExp(`^spendlens-${org}-users-.*\\.csv$`));
  const text = readFileSync(await download.path(), 'utf8');
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  const at = (name) => cols.indexOf(name);
  assert.ok(at('user_id') >= 0 && at('total_cost') >= 0, head);
  // The CSV has no quoted cells in these two columns (ids and decimal strings).
  const csv = lines.map((l) => l.split(',')).map((c) => [c[at('user_id')], c[at('total_cost')]]);
  let rows = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${cursor}` : '';
    const page = await api('org_admin', `/v1/orgs/${org}/users?period=last_30d&limit=100${q}`);
    rows = rows.concat(page.data);
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(csv, rows.map((r) => [r.user_id, r.total_cost]));
  assert.ok(csv.length > 0, 'empty CSV');
  await context.close();
});

await step('a member opening another person\'s page gets 403', async () => {
  const m = token('member');
  const other = token('org_admin').user;
  const { context, page } = await session('member');
  expectForbidden = true;
  const resp = await page.goto(`${base}/orgs/${m.org}/users/${other}`);
  expectForbidden = false;
  assert.equal(resp.status(), 403);
  assert.match(await page.locator('h1').innerText(), /403/);
  assert.equal(await page.locator('#comparison').count(), 0, 'data shown on a 403 page');
  await shot(page, 'forbidden');
  await context.close();
});

await step('the organisation page on a phone', async () => {
  const { context, page } = await session('org_admin', { width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
  await shot(page, 'organisation-phone');
  await context.close();
});

await step('no console errors', async () => {
  assert.deepEqual(consoleErrors, []);
});

await browser.close();
process.exit(failed ? 1 : 0);
