// Exchanges: paged list with publish rates, and a declare form.

import * as api from '../api.js';
import { h, rate, attempt, field, rateOf } from '../dom.js';
import { PagedTable } from '../table.js';
import { vhostSelect } from '../vhosts.js';

export default function exchanges(main, _args, { navigate }) {
  let vhost = '';
  const stat = (x, k) => rateOf(x.message_stats, k);
  const table = new PagedTable({
    sort: 'name',
    columns: [
      { title: 'Name', sort: 'name', cell: (x) => h('a', { href: `#/exchanges/${api.seg(x.vhost)}/${api.seg(x.name || 'amq.default')}` }, x.name || '(AMQP default)') },
      { title: 'Vhost', cell: (x) => x.vhost },
      { title: 'Type', sort: 'type', cell: (x) => x.type },
      { title: 'Features', cell: (x) => [x.durable ? 'D' : '', x.auto_delete ? 'AD' : '', x.internal ? 'I' : ''].filter(Boolean).join(' '), class: 'muted' },
      { title: 'Policy', cell: (x) => x.policy || '', class: 'muted' },
      { title: 'In', sort: 'message_stats.publish_in_details.rate', descending: true, cell: (x) => rate(stat(x, 'publish_in')), class: 'n' },
      { title: 'Out', sort: 'message_stats.publish_out_details.rate', descending: true, cell: (x) => rate(stat(x, 'publish_out')), class: 'n' },
    ],
    load: (s) => api.page(vhost ? `/exchanges/${api.seg(vhost)}` : '/exchanges', s),
  });

  const name = h('input', { name: 'name', required: true, placeholder: 'exchange name' });
  const type = h('select', { name: 'type' }, ['direct', 'fanout', 'topic', 'headers'].map((t) => h('option', { value: t }, t)));
  const durable = h('input', { type: 'checkbox', checked: true });
  const declareVhost = vhostSelect({ all: false });
  const form = h('form', { class: 'inline-form card' },
    h('h2', {}, 'Declare an exchange'),
    field('Vhost', declareVhost), field('Name', name), field('Type', type),
    h('label', { class: 'inline' }, durable, ' durable'),
    h('button', { type: 'submit', class: 'primary' }, 'Declare'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ok = await attempt(() => api.put(`/exchanges/${api.seg(declareVhost.value)}/${api.seg(name.value)}`,
      { type: type.value, durable: durable.checked }), `Exchange ${name.value} declared`);
    if (ok) navigate(`exchanges/${api.seg(declareVhost.value)}/${api.seg(name.value)}`);
  });

  main.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Exchanges'),
      vhostSelect({ ariaLabel: 'Virtual host', onchange: (v) => { vhost = v; table.state.page = 1; table.refresh(); } })),
    table.el, form);
  return { refresh: () => table.refresh() };
}
