// One exchange: its topology (bindings in and out), bindings tables, bind form, publish,
// delete.

import * as api from '../api.js';
import { h, fill, rate, attempt, field, confirmThen, fact, rateOf } from '../dom.js';
import { simpleTable } from '../table.js';
import { publishForm } from '../messages.js';
import { topology } from '../topology.js';

export default function exchange(main, [vhost, routeName], { navigate }) {
  const name = routeName === 'amq.default' ? '' : routeName;
  const path = `/exchanges/${api.seg(vhost)}/${api.seg(routeName)}`;
  const facts = h('dl', { class: 'facts' });
  const graph = h('div', { class: 'graph' });
  const out = h('div');
  const inc = h('div');

  const destType = h('select', { name: 'destination_type' }, h('option', { value: 'q' }, 'queue'), h('option', { value: 'e' }, 'exchange'));
  const dest = h('input', { name: 'destination', required: true, placeholder: 'destination' });
  const key = h('input', { name: 'routing_key', placeholder: 'routing key' });
  const bindForm = h('form', { class: 'inline-form' },
    field('To', destType), field('Name', dest), field('Routing key', key), h('button', { type: 'submit' }, 'Bind'));
  bindForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(() => api.post(`/bindings/${api.seg(vhost)}/e/${api.seg(name)}/${destType.value}/${api.seg(dest.value)}`, { routing_key: key.value }), 'Bound');
  });
  const remove = h('button', {
    class: 'danger',
    disabled: name === '' || name.startsWith('amq.'),
    onclick: () => confirmThen(`Delete exchange ${name}?`, async () => {
      if (await attempt(() => api.del(path), `Exchange ${name} deleted`)) navigate('exchanges');
    }),
  }, 'Delete');

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/exchanges' }, 'Exchanges'), ` › in vhost “${vhost}”`),
    h('div', { class: 'title-row' }, h('h1', {}, name || '(AMQP default)'), h('div', { class: 'actions' }, remove)),
    h('section', { class: 'card' }, h('h2', {}, 'Details'), facts),
    h('section', { class: 'card' }, h('h2', {}, 'Topology'), graph),
    h('section', { class: 'card' }, h('h2', {}, 'Routes to'), out, name === '' ? null : bindForm),
    h('section', { class: 'card' }, h('h2', {}, 'Routed to from'), inc),
    publishForm({ vhost, exchange: routeName }));

  const hrefOf = (kind, n) => (kind === 'queue'
    ? `#/queues/${api.seg(vhost)}/${api.seg(n)}`
    : `#/exchanges/${api.seg(vhost)}/${api.seg(n || 'amq.default')}`);
  const unbind = (b) => h('button', {
    class: 'linkish',
    onclick: () => attempt(() => api.del(`/bindings/${api.seg(vhost)}/e/${api.seg(b.source)}/${b.destination_type === 'queue' ? 'q' : 'e'}/${api.seg(b.destination)}/${api.seg(b.properties_key)}`), 'Unbound'),
  }, 'Unbind');

  return {
    async refresh() {
      const x = await api.get(path);
      const s = x.message_stats || {};
      const r = (k) => rateOf(s, k);
      fill(facts, 
        fact('Type', x.type),
        fact('Features', [x.durable ? 'durable' : 'transient', x.auto_delete ? 'auto-delete' : '', x.internal ? 'internal' : ''].filter(Boolean).join(', ')),
        fact('Arguments', JSON.stringify(x.arguments)),
        fact('Policy', x.policy || 'none'),
        fact('Published in / routed out', `${rate(r('publish_in'))} / ${rate(r('publish_out'))}`));
      if (name === '') {
        fill(graph, h('p', { class: 'muted' }, 'The default exchange routes to every queue by its name.'));
        return;
      }
      const [source, destination] = await Promise.all([
        api.get(`${path}/bindings/source`),
        api.get(`${path}/bindings/destination`),
      ]);
      fill(graph, topology(name, destination, source, hrefOf));
      fill(out, simpleTable([
        { title: 'To', cell: (b) => h('a', { href: hrefOf(b.destination_type, b.destination) }, `${b.destination_type} ${b.destination}`) },
        { title: 'Routing key', cell: (b) => b.routing_key },
        { title: 'Arguments', cell: (b) => JSON.stringify(b.arguments) },
        { title: '', cell: unbind },
      ], source));
      fill(inc, simpleTable([
        { title: 'From', cell: (b) => h('a', { href: hrefOf('exchange', b.source) }, b.source) },
        { title: 'Routing key', cell: (b) => b.routing_key },
        { title: '', cell: unbind },
      ], destination));
    },
  };
}
