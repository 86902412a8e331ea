// Queues: server-side paged, sorted and filtered (fast with 100,000 queues), each row with
// sparklines of its depth and message rate over the refreshes seen while the page is open
// (kept in the browser: the broker stores no history); declare form.

import * as api from '../api.js';
import { h, num, rate, attempt, field, rateOf } from '../dom.js';
import { PagedTable } from '../table.js';
import { sparkline } from '../charts.js';
import { vhostSelect } from '../vhosts.js';

const HISTORY = 30;

export default function queues(main, _args, { navigate }) {
  let vhost = '';
  const history = new Map(); // [vhost, name] as JSON → {depth: […], rate: […]}
  const sparks = [];
  const key = (q) => JSON.stringify([q.vhost, q.name]);
  const features = (q) => [q.durable ? 'D' : '', q.auto_delete ? 'AD' : '', q.exclusive ? 'Excl' : '',
    q.arguments && Object.keys(q.arguments).length ? 'Args' : ''].filter(Boolean).join(' ');
  const stat = (q, k) => rateOf(q.message_stats, k);

  const table = new PagedTable({
    sort: 'name',
    columns: [
      { title: 'Name', sort: 'name', cell: (q) => h('a', { href: `#/queues/${api.seg(q.vhost)}/${api.seg(q.name)}` }, q.name) },
      { title: 'Vhost', cell: (q) => q.vhost },
      { title: 'Features', cell: features, class: 'muted' },
      { title: 'Policy', cell: (q) => q.policy || '', class: 'muted' },
      { title: 'Ready', sort: 'messages_ready', descending: true, cell: (q) => num(q.messages_ready), class: 'n' },
      { title: 'Unacked', sort: 'messages_unacknowledged', descending: true, cell: (q) => num(q.messages_unacknowledged), class: 'n' },
      { title: 'Total', sort: 'messages', descending: true, cell: (q) => num(q.messages), class: 'n' },
      { title: 'Consumers', sort: 'consumers', descending: true, cell: (q) => num(q.consumers), class: 'n' },
      { title: 'In', sort: 'message_stats.publish_details.rate', descending: true, cell: (q) => rate(stat(q, 'publish')), class: 'n' },
      { title: 'Out', sort: 'message_stats.deliver_get_details.rate', descending: true, cell: (q) => rate(stat(q, 'deliver_get')), class: 'n' },
      { title: 'Depth', cell: (q) => h('span', { class: 'spark-cell', dataset: { key: key(q), series: 'depth' } }) },
      { title: 'In + out /s', cell: (q) => h('span', { class: 'spark-cell', dataset: { key: key(q), series: 'rate' } }) },
    ],
    load: (s) => api.page(vhost ? `/queues/${api.seg(vhost)}` : '/queues', s),
    onRows: (items, body) => {
      sparks.splice(0).forEach((p) => p.destroy());
      const cells = [...body.querySelectorAll('.spark-cell')];
      for (const q of items) {
        const k = key(q);
        const seen = history.get(k) || { depth: [], rate: [] };
        seen.depth.push(q.messages || 0);
        seen.rate.push(stat(q, 'publish') + stat(q, 'deliver_get'));
        if (seen.depth.length > HISTORY) {
          seen.depth.shift();
          seen.rate.shift();
        }
        history.set(k, seen);
        if (seen.depth.length < 2) continue;
        for (const cell of cells.filter((c) => c.dataset.key === k)) {
          const series = cell.dataset.series;
          sparks.push(sparkline(cell, seen[series], series === 'rate' ? '#c26b2b' : undefined));
        }
      }
    },
  });

  const name = h('input', { name: 'name', placeholder: 'queue name', required: true });
  const durable = h('input', { type: 'checkbox', checked: true });
  const autoDelete = h('input', { type: 'checkbox' });
  const args = h('input', { name: 'arguments', placeholder: '{"x-max-length": 1000}' });
  const declareVhost = vhostSelect({ all: false });
  const form = h('form', { class: 'inline-form card' },
    h('h2', {}, 'Declare a queue'),
    field('Vhost', declareVhost), field('Name', name),
    h('label', { class: 'inline' }, durable, ' durable'),
    h('label', { class: 'inline' }, autoDelete, ' auto-delete'),
    field('Arguments (JSON)', args),
    h('button', { type: 'submit', class: 'primary' }, 'Declare'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let argsValue = {};
    if (args.value.trim()) {
      try { argsValue = JSON.parse(args.value); } catch (_) { argsValue = null; }
    }
    const ok = await attempt(async () => {
      if (argsValue === null) throw new Error('Arguments must be a JSON object');
      await api.put(`/queues/${api.seg(declareVhost.value)}/${api.seg(name.value)}`,
        { durable: durable.checked, auto_delete: autoDelete.checked, arguments: argsValue });
    }, `Queue ${name.value} declared`);
    if (ok) navigate(`queues/${api.seg(declareVhost.value)}/${api.seg(name.value)}`);
  });

  main.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Queues'),
      vhostSelect({ ariaLabel: 'Virtual host', onchange: (v) => { vhost = v; table.state.page = 1; table.refresh(); } })),
    table.el,
    form);
  return {
    refresh: () => table.refresh(),
    destroy: () => sparks.forEach((p) => p.destroy()),
  };
}
