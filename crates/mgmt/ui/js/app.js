// Warren's web UI: login, a sidebar of sections, hash routes, and a 5 s refresh of the page
// on show while the tab is visible (the API's statistics interval).

import * as api from './api.js';
import { h, fill, toast } from './dom.js';
import overview from './pages/overview.js';
import queues from './pages/queues.js';
import queue from './pages/queue.js';
import exchanges from './pages/exchanges.js';
import exchange from './pages/exchange.js';
import connections from './pages/connections.js';
import channels from './pages/channels.js';
import admin from './pages/admin.js';
import definitions from './pages/definitions.js';

const REFRESH_MS = 5000;

const ROUTES = [
  [/^$/, overview],
  [/^queues$/, queues],
  [/^queues\/([^/]+)\/(.+)$/, queue],
  [/^exchanges$/, exchanges],
  [/^exchanges\/([^/]+)\/(.*)$/, exchange],
  [/^connections$/, connections],
  [/^channels$/, channels],
  [/^admin$/, admin],
  [/^definitions$/, definitions],
];

const NAV = [
  ['', 'Overview'],
  ['queues', 'Queues'],
  ['exchanges', 'Exchanges'],
  ['connections', 'Connections'],
  ['channels', 'Channels'],
  ['admin', 'Users & vhosts'],
  ['definitions', 'Definitions'],
];

const root = document.getElementById('app');
let current = null; // {page, timer}
let whoami = null;

function stop() {
  if (!current) return;
  clearInterval(current.timer);
  if (current.page.destroy) current.page.destroy();
  current = null;
}

function showLogin(message) {
  stop();
  whoami = null;
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const note = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'login card' },
    h('h1', {}, h('span', { class: 'mark' }, '◆'), ' Warren'),
    h('label', { class: 'field' }, h('span', {}, 'Username'), user),
    h('label', { class: 'field' }, h('span', {}, 'Password'), pass),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    note);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    api.login(user.value, pass.value);
    try {
      whoami = await api.get('/whoami');
      route();
    } catch (e) {
      api.logout();
      note.textContent = e.status === 401 ? 'Login failed: wrong username or password, or a user without management access.' : e.message;
    }
  });
  fill(root, h('main', { class: 'login-page' }, form));
}

function layout(active) {
  const nav = h('nav', { class: 'side', 'aria-label': 'Sections' },
    h('div', { class: 'brand' }, h('span', { class: 'mark' }, '◆'), ' Warren'),
    NAV.map(([path, label]) => h('a', { href: `#/${path}`, class: path === active ? 'active' : '', 'aria-current': path === active ? 'page' : undefined }, label)),
    h('div', { class: 'who' },
      h('span', {}, whoami ? whoami.name : ''),
      h('button', { class: 'linkish', onclick: () => { api.logout(); showLogin(); } }, 'Log out')));
  const main = h('main', { class: 'content' });
  fill(root, h('div', { class: 'shell' }, nav, main), h('div', { id: 'toasts', 'aria-live': 'polite' }));
  return main;
}

async function route() {
  if (!api.loggedIn()) return showLogin();
  if (!whoami) {
    try {
      whoami = await api.get('/whoami');
    } catch (e) {
      api.logout();
      return showLogin(e.status === 401 ? '' : e.message);
    }
  }
  const hash = location.hash.replace(/^#\/?/, '');
  stop();
  for (const [re, make] of ROUTES) {
    const m = re.exec(hash);
    if (!m) continue;
    const section = hash.split('/')[0];
    const main = layout(section);
    const args = m.slice(1).map((s) => decodeURIComponent(s));
    const page = make(main, args, { whoami, navigate });
    current = { page, timer: setInterval(() => refresh(page), REFRESH_MS) };
    await refresh(page);
    return undefined;
  }
  layout('').append(h('h1', {}, 'Not found'), h('p', {}, 'No such page. '), h('a', { href: '#/' }, 'Back to the overview'));
  return undefined;
}

async function refresh(page) {
  if (document.visibilityState === 'hidden' || !page.refresh) return;
  try {
    await page.refresh();
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
  }
}

export function navigate(path) {
  location.hash = `#/${path}`;
}

api.whenUnauthorised(() => {
  api.logout();
  showLogin('Your session ended: log in again.');
});
window.addEventListener('hashchange', route);
route();
