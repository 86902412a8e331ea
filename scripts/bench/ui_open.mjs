// Open a broker's web UI on its queue list in headless Chromium and keep it open (it polls
// like an operator's tab), for the mgmt_list benchmark. Run from tests/ui (playwright-core).
//
//   node scripts/bench/ui_open.mjs URL warren|rabbitmq USER:PASS SECONDS
// Prints {"load_s": …, "open_s": …}: the queue list's load time (after login, until its
// table has rows) and how long the page stayed open in all.

import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const { chromium } = require('playwright-core');

const [url, kind, userPass, seconds] = process.argv.slice(2);
const [user, pass] = userPass.split(':');
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(600000);
  await page.goto(`${url}/`);
  if (kind === 'warren') {
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(pass);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  } else {
    await page.locator('input[name=username]').fill(user);
    await page.locator('input[name=password]').fill(pass);
    await page.locator('input[type=submit]').click();
    await page.locator('#main').waitFor();
  }
  const opened = Date.now();
  await page.goto(`${url}/#/queues`);
  const firstRow = kind === 'warren' ? 'table.grid tbody tr td a' : 'table.list tbody tr td a';
  await page.locator(firstRow).first().waitFor();
  const load = (Date.now() - opened) / 1000;
  await page.waitForTimeout(Number(seconds) * 1000);
  console.log(JSON.stringify({ load_s: load, open_s: (Date.now() - opened) / 1000 }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message || e).slice(0, 300) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
