// Warren's web UI in a real browser: Debian's headless Chromium driven by playwright-core.
// Starts the warren binary (WARREN_BIN) on free loopback ports, drives the pages as an
// operator would, checks what they did through the management API, and saves screenshots
// under tests/ui/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

let warren;
let dataDir;
let base;
let browser;

async function startWarren() {
  const bin = process.env.WARREN_BIN;
  assert.ok(bin, 'set WARREN_BIN to the warren binary');
  dataDir = mkdtempSync(join(tmpdir(), 'warren-ui-'));
  warren = spawn(bin, ['--bind', '127.0.0.1', '--amqp-port', '0', '--mgmt-port', '0', '--prometheus-port', '0', '--data-dir', dataDir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`warren did not start:\n${output}`)), 20000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening management (\S+):(\d+)/.exec(output);
      if (m && /listening amqp/.test(output)) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[2]}`);
      }
    };
    warren.stdout.on('data', onData);
    warren.stderr.on('data', onData);
    warren.on('exit', (code) => reject(new Error(`warren exited (${code}):\n${output}`)));
  });
}

async function apiCall(method, path, body) {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: { Authorization: AUTH, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function loggedInPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.errors = errors;
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill('guest');
  await page.getByLabel('Password').fill('guest');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  base = await startWarren();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  if (browser) await browser.close();
  if (warren) warren.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('a wrong password is refused and the right one opens the overview', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill('guest');
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Login failed' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'login-refused.png') });
  await page.getByLabel('Password').fill('guest');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  // Totals and both live charts are drawn.
  await page.locator('.stat', { hasText: 'Queues' }).waitFor();
  await page.locator('.chart canvas').nth(1).waitFor();
  const exchanges = await page.locator('.stat', { hasText: 'Exchanges' }).locator('.value').textContent();
  assert.equal(exchanges, '7', 'the default vhost has 7 exchanges');
  await page.screenshot({ path: join(artifacts, 'overview.png'), fullPage: true });
  await page.close();
});

test('the queue list pages, filters and sorts on the server', async () => {
  for (let i = 0; i < 120; i += 1) {
    const name = `ui-list-${String(i).padStart(3, '0')}`;
    assert.equal((await apiCall('PUT', `/queues/%2F/${name}`, { durable: false })).status, 201);
  }
  await apiCall('PUT', '/queues/%2F/ui-list-deep', { durable: false });
  for (let i = 0; i < 3; i += 1) {
    await apiCall('POST', '/exchanges/%2F/amq.default/publish', { routing_key: 'ui-list-deep', properties: {}, payload: 'x', payload_encoding: 'string' });
  }
  const page = await loggedInPage();
  await page.getByRole('link', { name: 'Queues', exact: true }).first().click();
  await page.getByRole('heading', { name: 'Queues' }).waitFor();
  await page.locator('.count', { hasText: '121 in all' }).waitFor();
  assert.equal(await page.locator('table.grid tbody tr').count(), 50, 'one page of 50');
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.locator('.pager', { hasText: 'page 2 of 3' }).waitFor();
  await page.getByLabel('Filter by name').fill('ui-list-01');
  await page.locator('.count', { hasText: '10 of 121' }).waitFor();
  await page.getByLabel('Filter by name').fill('');
  await page.locator('.count', { hasText: '121 in all' }).waitFor();
  // Sorting by total puts the only queue with messages first.
  await page.getByRole('button', { name: 'Total' }).click();
  await page.locator('table.grid tbody tr').first().filter({ hasText: 'ui-list-deep' }).waitFor();
  // A sparkline appears once a row was seen twice (the page refreshes every 5 s).
  await page.locator('.spark-cell[data-series=depth] canvas').first().waitFor({ timeout: 15000 });
  await page.locator('.spark-cell[data-series=rate] canvas').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'queues.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('publish to a queue, see its head without consuming, then get it', async () => {
  assert.equal((await apiCall('PUT', '/queues/%2F/ui-roundtrip', { durable: true })).status, 201);
  const page = await loggedInPage();
  await page.goto(`${base}/#/queues/%2F/ui-roundtrip`);
  await page.getByRole('heading', { name: 'ui-roundtrip' }).waitFor();
  const publish = page.locator('form.publish');
  await publish.getByLabel('Payload').fill('hello from the browser');
  await publish.getByLabel('Headers (JSON)').fill('{"x-origin": "ui"}');
  await publish.getByRole('button', { name: 'Publish' }).click();
  await page.locator('.toast', { hasText: 'Message published' }).waitFor();
  // The head view shows it within a refresh, and it is still in the queue.
  await page.locator('article.message', { hasText: 'hello from the browser' }).first().waitFor({ timeout: 12000 });
  const q = (await apiCall('GET', '/queues/%2F/ui-roundtrip')).body;
  assert.equal(q.messages_ready, 1, 'peeking does not take the message');
  await page.screenshot({ path: join(artifacts, 'queue-head.png'), fullPage: true });

  const getForm = page.locator('form', { hasText: 'Get messages' });
  await getForm.getByLabel('Acknowledgement').selectOption('ack_requeue_false');
  await getForm.getByRole('button', { name: 'Get' }).click();
  await getForm.locator('article.message', { hasText: 'hello from the browser' }).waitFor();
  await getForm.locator('article.message', { hasText: 'x-origin' }).waitFor();
  const after = (await apiCall('GET', '/queues/%2F/ui-roundtrip')).body;
  assert.equal(after.messages_ready, 0, 'got with ack: the queue is empty');
  await page.screenshot({ path: join(artifacts, 'queue-get.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an exchange shows its bindings as a topology, and the UI binds and deletes', async () => {
  await apiCall('PUT', '/exchanges/%2F/ui-orders', { type: 'topic', durable: true });
  await apiCall('PUT', '/queues/%2F/ui-billing', { durable: true });
  const page = await loggedInPage();
  await page.goto(`${base}/#/exchanges/%2F/ui-orders`);
  await page.getByRole('heading', { name: 'ui-orders' }).waitFor();
  const bind = page.locator('form', { hasText: 'Bind' }).last();
  await bind.getByLabel('Name').fill('ui-billing');
  await bind.getByLabel('Routing key').fill('order.*.paid');
  await bind.getByRole('button', { name: 'Bind' }).click();
  await page.locator('.toast', { hasText: 'Bound' }).waitFor();
  const bindings = (await apiCall('GET', '/exchanges/%2F/ui-orders/bindings/source')).body;
  assert.deepEqual(bindings.map((b) => [b.destination, b.routing_key]), [['ui-billing', 'order.*.paid']]);
  await page.locator('svg.topology text', { hasText: 'ui-billing' }).waitFor({ timeout: 12000 });
  await page.locator('svg.topology text', { hasText: 'order.*.paid' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'exchange-topology.png'), fullPage: true });
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Delete' }).first().click();
  await page.getByRole('heading', { name: 'Exchanges' }).waitFor();
  assert.equal((await apiCall('GET', '/exchanges/%2F/ui-orders')).status, 404);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('users, vhosts and permissions are administered from the UI', async () => {
  const page = await loggedInPage();
  await page.getByRole('link', { name: 'Users & vhosts' }).click();
  await page.getByRole('heading', { name: 'Users & vhosts' }).waitFor();
  const vform = page.locator('form', { hasText: 'Add a vhost' });
  await vform.getByLabel('Name').fill('ui-vhost');
  await vform.getByRole('button', { name: 'Add vhost' }).click();
  await page.locator('.toast', { hasText: 'Vhost ui-vhost added' }).waitFor();
  const uform = page.locator('form', { hasText: 'Add or update a user' });
  await uform.getByLabel('Username').fill('ui-operator');
  await uform.getByLabel('Password').fill('s3cret');
  await uform.getByLabel('Tags').fill('monitoring');
  await uform.getByRole('button', { name: 'Save user' }).click();
  await page.locator('.toast', { hasText: 'User ui-operator saved' }).waitFor();
  const pform = page.locator('form', { hasText: 'Set permissions' });
  await pform.getByLabel('User').fill('ui-operator');
  await pform.getByLabel('Vhost').selectOption('ui-vhost');
  await pform.getByLabel('Write').fill('^ui-.*');
  await pform.getByRole('button', { name: 'Set' }).click();
  await page.locator('.toast', { hasText: 'Permissions of ui-operator set' }).waitFor();

  assert.equal((await apiCall('GET', '/vhosts/ui-vhost')).status, 200);
  const user = (await apiCall('GET', '/users/ui-operator')).body;
  assert.deepEqual(user.tags, ['monitoring']);
  const perm = (await apiCall('GET', '/permissions/ui-vhost/ui-operator')).body;
  assert.deepEqual([perm.configure, perm.write, perm.read], ['.*', '^ui-.*', '.*']);
  // The new user can log in to the UI with what was typed.
  const res = await fetch(`${base}/api/whoami`, { headers: { Authorization: `Basic ${Buffer.from('ui-operator:s3cret').toString('base64')}` } });
  assert.equal(res.status, 200);
  await page.screenshot({ path: join(artifacts, 'admin.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('vhost and user limits are set, listed and deleted from the UI', async () => {
  const page = await loggedInPage();
  assert.equal((await apiCall('PUT', '/vhosts/ui-limited', {})).status, 201);
  assert.equal((await apiCall('PUT', '/users/ui-limited-user', { password: 'pw', tags: '' })).status, 201);
  await page.getByRole('link', { name: 'Users & vhosts' }).click();
  const form = page.locator('form', { hasText: 'Set a limit' });
  await form.getByLabel('Name').fill('ui-limited');
  await form.getByLabel('Limit').selectOption('max-queues');
  await form.getByLabel('Value').fill('7');
  await form.getByRole('button', { name: 'Set limit' }).click();
  await page.locator('.toast', { hasText: 'max-queues of ui-limited set' }).waitFor();
  // The limit names follow the scope: a user has max-channels, not max-queues.
  await form.getByLabel('Of a').selectOption('user');
  assert.deepEqual(await form.getByLabel('Limit').locator('option').allTextContents(), ['max-connections', 'max-channels']);
  await form.getByLabel('Name').fill('ui-limited-user');
  await form.getByLabel('Limit').selectOption('max-channels');
  await form.getByLabel('Value').fill('3');
  await form.getByRole('button', { name: 'Set limit' }).click();
  await page.locator('.toast', { hasText: 'max-channels of ui-limited-user set' }).waitFor();
  assert.deepEqual((await apiCall('GET', '/vhost-limits/ui-limited')).body, [{ vhost: 'ui-limited', value: { 'max-queues': 7 } }]);
  assert.deepEqual((await apiCall('GET', '/user-limits/ui-limited-user')).body, [{ user: 'ui-limited-user', value: { 'max-channels': 3 } }]);
  const card = page.locator('section', { has: page.getByRole('heading', { name: 'Limits' }) });
  const row = card.locator('tr', { hasText: 'user ui-limited-user' });
  await row.getByText('max-channels').waitFor();
  await card.locator('tr', { hasText: 'vhost ui-limited' }).getByText('7').waitFor();
  await page.screenshot({ path: join(artifacts, 'limits.png'), fullPage: true });
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.toast', { hasText: 'Deleted max-channels of user ui-limited-user' }).waitFor();
  assert.deepEqual((await apiCall('GET', '/user-limits/ui-limited-user')).body, []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a policy is composed from its key hints and saved', async () => {
  const page = await loggedInPage();
  await page.getByRole('link', { name: 'Users & vhosts' }).click();
  const form = page.locator('form', { hasText: 'Add or update a policy' });
  await form.getByLabel('Name').fill('ui-limits');
  await form.getByLabel('Pattern').fill('^ui-');
  await form.getByLabel('Apply to').selectOption('exchanges');
  // Only the exchange keys are offered for exchanges.
  assert.deepEqual(await form.locator('.key-hints button').allTextContents(), ['alternate-exchange']);
  await form.getByLabel('Apply to').selectOption('queues');
  const definition = form.getByLabel('Definition (JSON)');
  await definition.fill('{"max-length": ');
  await form.locator('.hint-problem', { hasText: 'not a JSON object yet' }).waitFor();
  await definition.fill('{"max-length": 5}');
  await form.getByRole('button', { name: 'overflow' }).click();
  await form.getByRole('button', { name: 'message-ttl' }).click();
  assert.deepEqual(JSON.parse(await definition.inputValue()), { 'max-length': 5, overflow: 'drop-head', 'message-ttl': 60000 });
  await form.getByRole('button', { name: 'Save policy' }).click();
  await page.locator('.toast', { hasText: 'Policy ui-limits saved' }).waitFor();

  const policy = (await apiCall('GET', '/policies/%2F/ui-limits')).body;
  assert.deepEqual([policy.pattern, policy['apply-to']], ['^ui-', 'queues']);
  assert.deepEqual(policy.definition, { 'max-length': 5, overflow: 'drop-head', 'message-ttl': 60000 });
  await page.screenshot({ path: join(artifacts, 'policy.png'), fullPage: true });
  assert.equal((await apiCall('DELETE', '/policies/%2F/ui-limits')).status, 204);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('definitions are exported as a download and imported from a file', async () => {
  const page = await loggedInPage();
  await page.getByRole('link', { name: 'Definitions' }).click();
  await page.getByRole('heading', { name: 'Definitions', level: 1 }).waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  const exported = JSON.parse(await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString()));
  assert.ok(exported.vhosts.some((v) => v.name === '/'), 'the export lists the vhosts');
  assert.ok(exported.users.some((u) => u.name === 'guest'), 'and the users');

  const definitions = {
    vhosts: [{ name: 'ui-imported' }],
    permissions: [{ user: 'guest', vhost: 'ui-imported', configure: '.*', write: '.*', read: '.*' }],
    queues: [{ name: 'ui-imported-q', vhost: 'ui-imported', durable: true, auto_delete: false, arguments: {} }],
  };
  await page.getByLabel('File').setInputFiles({ name: 'defs.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(definitions)) });
  await page.getByRole('button', { name: 'Import' }).click();
  await page.locator('.toast', { hasText: 'Imported defs.json' }).waitFor();
  assert.equal((await apiCall('GET', '/queues/ui-imported/ui-imported-q')).status, 200);
  await page.screenshot({ path: join(artifacts, 'definitions.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a monitoring user sees what its tag allows and stays logged in', async () => {
  await apiCall('PUT', '/users/ui-watcher', { password: 'w4tch', tags: 'monitoring' });
  await apiCall('PUT', '/permissions/%2F/ui-watcher', { configure: '', write: '', read: '.*' });
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill('ui-watcher');
  await page.getByLabel('Password').fill('w4tch');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByRole('link', { name: 'Users & vhosts' }).click();
  // Listing users needs the administrator tag: the API's reason is shown in place.
  await page.getByText('Not administrator user').first().waitFor();
  await page.waitForTimeout(6000); // a refresh later, still there and not logged out
  assert.equal(await page.getByRole('button', { name: 'Log in' }).count(), 0);
  await page.getByRole('heading', { name: 'Users & vhosts' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'monitoring-user.png'), fullPage: true });
  await page.close();
});

test('the UI files are served with their types, and unknown ones are 404', async () => {
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.match(index.headers.get('content-security-policy'), /default-src 'self'/);
  const js = await fetch(`${base}/ui/js/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const again = await fetch(`${base}/ui/js/app.js`, { headers: { 'If-None-Match': js.headers.get('etag') } });
  assert.equal(again.status, 304);
  for (const path of ['/ui/nope.js', '/ui/%2e%2e/Cargo.toml', '/ui/js/../../Cargo.toml']) {
    assert.equal((await fetch(`${base}${path}`)).status, 404, path);
  }
  // The API still answers with RabbitMQ's JSON next to the UI.
  const api = await fetch(`${base}/api/nope`, { headers: { Authorization: AUTH } });
  assert.equal(api.status, 404);
  assert.deepEqual(await api.json(), { error: 'Object Not Found', reason: 'Not Found' });
});
