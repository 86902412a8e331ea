// Administration: users, vhosts, permissions, policies and limits.

import * as api from '../api.js';
import { h, fill, attempt, field, confirmThen } from '../dom.js';
import { simpleTable } from '../table.js';
import { vhostSelect, setVhostOptions } from '../vhosts.js';

export default function admin(main) {
  const users = h('div');
  const vhosts = h('div');
  const perms = h('div');
  const policies = h('div');
  const limits = h('div');
  let refresh;

  // Users.
  const uname = h('input', { name: 'username', required: true });
  const upass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
  const utags = h('input', { name: 'tags', placeholder: 'administrator, monitoring …' });
  const userForm = form('Add or update a user', [field('Username', uname), field('Password', upass), field('Tags', utags)], 'Save user',
    () => api.put(`/users/${api.seg(uname.value)}`, { password: upass.value, tags: utags.value }), () => `User ${uname.value} saved`);

  // Vhosts.
  const vname = h('input', { name: 'vhost', required: true });
  const vdesc = h('input', { name: 'description' });
  const vhostForm = form('Add a vhost', [field('Name', vname), field('Description', vdesc)], 'Add vhost',
    () => api.put(`/vhosts/${api.seg(vname.value)}`, { description: vdesc.value }), () => `Vhost ${vname.value} added`);

  // Permissions.
  const puser = h('input', { name: 'user', required: true });
  const pvhost = vhostSelect({ all: false });
  const pconf = h('input', { name: 'configure', value: '.*' });
  const pwrite = h('input', { name: 'write', value: '.*' });
  const pread = h('input', { name: 'read', value: '.*' });
  const permForm = form('Set permissions', [field('User', puser), field('Vhost', pvhost), field('Configure', pconf), field('Write', pwrite), field('Read', pread)], 'Set',
    () => api.put(`/permissions/${api.seg(pvhost.value)}/${api.seg(puser.value)}`, { configure: pconf.value, write: pwrite.value, read: pread.value }),
    () => `Permissions of ${puser.value} set`);

  // Policies.
  const polName = h('input', { name: 'policy', required: true });
  const polVhost = vhostSelect({ all: false });
  const polPattern = h('input', { name: 'pattern', value: '.*' });
  const polApply = h('select', { name: 'apply-to' }, ['all', 'queues', 'exchanges'].map((v) => h('option', { value: v }, v)));
  const polPriority = h('input', { name: 'priority', type: 'number', value: 0 });
  const polDef = h('input', { name: 'definition', placeholder: '{"max-length": 1000}', required: true });
  const policyForm = form('Add or update a policy', [field('Name', polName), field('Vhost', polVhost), field('Pattern', polPattern),
    field('Apply to', polApply), field('Priority', polPriority), field('Definition (JSON)', polDef), policyKeyHints(polDef, polApply)], 'Save policy',
  () => {
    let definition;
    try { definition = JSON.parse(polDef.value); } catch (_) { throw new Error('The definition must be a JSON object'); }
    return api.put(`/policies/${api.seg(polVhost.value)}/${api.seg(polName.value)}`,
      { pattern: polPattern.value, 'apply-to': polApply.value, priority: Number(polPriority.value), definition });
  }, () => `Policy ${polName.value} saved`);

  // Limits: a vhost's max-connections and max-queues, a user's max-connections and
  // max-channels (RabbitMQ's /api/vhost-limits and /api/user-limits; negative: none).
  const limScope = h('select', { name: 'scope' }, [['vhost', 'Vhost'], ['user', 'User']].map(([v, t]) => h('option', { value: v }, t)));
  const limOf = h('input', { name: 'of', required: true, placeholder: 'vhost or user name' });
  const limName = h('select', { name: 'limit' });
  const limValue = h('input', { name: 'value', type: 'number', required: true, value: 100 });
  const limitNames = { vhost: ['max-connections', 'max-queues'], user: ['max-connections', 'max-channels'] };
  const renderLimitNames = () => limName.replaceChildren(...limitNames[limScope.value].map((n) => h('option', { value: n }, n)));
  limScope.addEventListener('change', renderLimitNames);
  renderLimitNames();
  const limitForm = form('Set a limit', [field('Of a', limScope), field('Name', limOf), field('Limit', limName), field('Value', limValue)], 'Set limit',
    () => api.put(`/${limScope.value}-limits/${api.seg(limOf.value)}/${api.seg(limName.value)}`, { value: Number(limValue.value) }),
    () => `${limName.value} of ${limOf.value} set`);

  function form(title, fields, button, action, done) {
    const f = h('form', { class: 'inline-form' }, h('h3', {}, title), fields, h('button', { type: 'submit', class: 'primary' }, button));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (await attempt(action, done())) refresh();
    });
    return f;
  }

  const deleteButton = (what, path) => h('button', {
    class: 'linkish danger',
    onclick: () => confirmThen(`Delete ${what}?`, async () => { if (await attempt(() => api.del(path), `Deleted ${what}`)) refresh(); }),
  }, 'Delete');

  main.append(
    h('h1', {}, 'Users & vhosts'),
    h('section', { class: 'card' }, h('h2', {}, 'Users'), users, userForm),
    h('section', { class: 'card' }, h('h2', {}, 'Virtual hosts'), vhosts, vhostForm),
    h('section', { class: 'card' }, h('h2', {}, 'Permissions'), perms, permForm),
    h('section', { class: 'card' }, h('h2', {}, 'Policies'), policies, policyForm),
    h('section', { class: 'card' }, h('h2', {}, 'Limits'), limits, limitForm));

  refresh = async () => {
    const [u, v, p, pol, vl, ul] = await Promise.all([
      api.get('/users').catch((e) => e),
      api.get('/vhosts'),
      api.get('/permissions').catch((e) => e),
      api.get('/policies'),
      api.get('/vhost-limits').catch((e) => e),
      api.get('/user-limits').catch((e) => e),
    ]);
    const names = v.map((x) => x.name);
    setVhostOptions(pvhost, names);
    setVhostOptions(polVhost, names);
    fill(users, u instanceof Error ? h('p', { class: 'muted' }, u.message) : simpleTable([
      { title: 'Name', cell: (x) => x.name },
      { title: 'Tags', cell: (x) => (Array.isArray(x.tags) ? x.tags.join(', ') : x.tags) },
      { title: '', cell: (x) => deleteButton(`user ${x.name}`, `/users/${api.seg(x.name)}`) },
    ], u));
    fill(vhosts, simpleTable([
      { title: 'Name', cell: (x) => x.name },
      { title: 'Description', cell: (x) => x.description || '' },
      { title: 'Messages', cell: (x) => String(x.messages ?? 0), class: 'n' },
      { title: '', cell: (x) => deleteButton(`vhost ${x.name}`, `/vhosts/${api.seg(x.name)}`) },
    ], v));
    fill(perms, p instanceof Error ? h('p', { class: 'muted' }, p.message) : simpleTable([
      { title: 'User', cell: (x) => x.user },
      { title: 'Vhost', cell: (x) => x.vhost },
      { title: 'Configure', cell: (x) => x.configure },
      { title: 'Write', cell: (x) => x.write },
      { title: 'Read', cell: (x) => x.read },
      { title: '', cell: (x) => deleteButton(`the permissions of ${x.user} in ${x.vhost}`, `/permissions/${api.seg(x.vhost)}/${api.seg(x.user)}`) },
    ], p));
    fill(policies, simpleTable([
      { title: 'Name', cell: (x) => x.name },
      { title: 'Vhost', cell: (x) => x.vhost },
      { title: 'Pattern', cell: (x) => x.pattern },
      { title: 'Apply to', cell: (x) => x['apply-to'] },
      { title: 'Priority', cell: (x) => String(x.priority), class: 'n' },
      { title: 'Definition', cell: (x) => JSON.stringify(x.definition) },
      { title: '', cell: (x) => deleteButton(`policy ${x.name}`, `/policies/${api.seg(x.vhost)}/${api.seg(x.name)}`) },
    ], pol));
    const limitRows = (list, scope) => (list instanceof Error ? [] : list.flatMap((entry) => Object.entries(entry.value)
      .map(([name, value]) => ({ scope, of: entry[scope], name, value }))));
    const rows = [...limitRows(vl, 'vhost'), ...limitRows(ul, 'user')];
    fill(limits, vl instanceof Error ? h('p', { class: 'muted' }, vl.message) : simpleTable([
      { title: 'Of', cell: (x) => `${x.scope} ${x.of}` },
      { title: 'Limit', cell: (x) => x.name },
      { title: 'Value', cell: (x) => String(x.value), class: 'n' },
      { title: '', cell: (x) => deleteButton(`${x.name} of ${x.scope} ${x.of}`, `/${x.scope}-limits/${api.seg(x.of)}/${api.seg(x.name)}`) },
    ], rows));
  };
  return { refresh: () => refresh() };
}

// The policy keys RabbitMQ knows, with an example value; which objects each applies to.
const POLICY_KEYS = [
  ['message-ttl', 60000, 'queues', 'ms a message may wait'],
  ['expires', 1800000, 'queues', 'ms unused before the queue is deleted'],
  ['max-length', 1000, 'queues', 'messages'],
  ['max-length-bytes', 1048576, 'queues', 'bytes of bodies'],
  ['overflow', 'drop-head', 'queues', 'drop-head | reject-publish | reject-publish-dlx'],
  ['dead-letter-exchange', 'dlx', 'queues', 'exchange for dead letters'],
  ['dead-letter-routing-key', 'dead', 'queues', 'routing key for dead letters'],
  ['queue-mode', 'lazy', 'queues', 'lazy keeps only the head in memory'],
  ['consumer-timeout', 1800000, 'queues', 'ms before an unacked delivery closes its channel'],
  ['alternate-exchange', 'unrouted', 'exchanges', 'exchange for unroutable messages'],
];

// Buttons under the definition field: each adds its key (with an example value) to the JSON,
// offering only the keys that fit the "apply to" choice; a bad JSON shows at once.
function policyKeyHints(defInput, applyTo) {
  const keys = h('div', { class: 'key-hints' });
  const problem = h('span', { class: 'hint-problem' });
  const parse = () => {
    const text = defInput.value.trim();
    if (text === '') return {};
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value;
  };
  const check = () => {
    try { parse(); problem.textContent = ''; defInput.setCustomValidity(''); } catch (_) {
      problem.textContent = 'not a JSON object yet';
      defInput.setCustomValidity('The definition must be a JSON object');
    }
  };
  const render = () => {
    keys.replaceChildren(...POLICY_KEYS
      .filter(([, , kind]) => applyTo.value === 'all' || applyTo.value === kind)
      .map(([key, example, , help]) => h('button', {
        type: 'button', class: 'chip', title: help,
        onclick: () => {
          let def;
          try { def = parse(); } catch (_) { def = {}; }
          if (!(key in def)) def[key] = example;
          defInput.value = JSON.stringify(def);
          check();
          defInput.focus();
        },
      }, key)));
  };
  defInput.addEventListener('input', check);
  applyTo.addEventListener('change', render);
  render();
  return h('div', { class: 'field wide' }, h('span', {}, 'Keys'), keys, problem);
}
