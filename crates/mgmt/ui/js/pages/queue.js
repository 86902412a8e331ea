// One queue: its numbers with live charts, a live view of its head (peeked, not consumed),
// consumers, bindings, publish, get, purge and delete.

import * as api from '../api.js';
import { h, fill, num, rate, bytes, attempt, field, confirmThen, fact, rateOf } from '../dom.js';
import { LiveChart } from '../charts.js';
import { simpleTable } from '../table.js';
import { publishForm, messageView } from '../messages.js';

const PEEK_COUNT = 5;

export default function queue(main, [vhost, name], { navigate }) {
  const path = `/queues/${api.seg(vhost)}/${api.seg(name)}`;
  const facts = h('dl', { class: 'facts' });
  const chartEl = h('div', { class: 'chart' });
  const rateEl = h('div', { class: 'chart' });
  const head = h('div', { class: 'messages', 'aria-live': 'off' });
  const consumers = h('div');
  const bindings = h('div');
  const got = h('div', { class: 'messages' });
  let depth;
  let rates;
  let peekOn = true;

  const peekToggle = h('input', { type: 'checkbox', checked: true });
  peekToggle.addEventListener('change', () => { peekOn = peekToggle.checked; if (peekOn) refreshHead(); });

  const count = h('input', { type: 'number', min: 1, max: 1000, value: 1, name: 'count' });
  const ackmode = h('select', { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack, requeue (keep them)'),
    h('option', { value: 'ack_requeue_false' }, 'Ack (remove them)'),
    h('option', { value: 'reject_requeue_true' }, 'Reject, requeue'),
    h('option', { value: 'reject_requeue_false' }, 'Reject, drop'));
  const getForm = h('form', { class: 'card' },
    h('h2', {}, 'Get messages'),
    field('Count', count), field('Acknowledgement', ackmode),
    h('button', { type: 'submit' }, 'Get'), got);
  getForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(async () => {
      const list = await api.post(`${path}/get`, { count: Number(count.value), ackmode: ackmode.value, encoding: 'auto', truncate: 50000 });
      fill(got, list.length ? list.map(messageView) : h('p', { class: 'empty' }, 'The queue is empty.'));
    });
  });

  const purge = h('button', {
    class: 'danger',
    onclick: () => confirmThen(`Purge every ready message of ${name}?`, () => attempt(() => api.del(`${path}/contents`), 'Queue purged')),
  }, 'Purge');
  const remove = h('button', {
    class: 'danger',
    onclick: () => confirmThen(`Delete queue ${name}?`, async () => {
      if (await attempt(() => api.del(path), `Queue ${name} deleted`)) navigate('queues');
    }),
  }, 'Delete');

  const bindSource = h('input', { name: 'source', placeholder: 'exchange', required: true });
  const bindKey = h('input', { name: 'routing_key', placeholder: 'routing key' });
  const bindForm = h('form', { class: 'inline-form' },
    field('From exchange', bindSource), field('Routing key', bindKey),
    h('button', { type: 'submit' }, 'Bind'));
  bindForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(() => api.post(`/bindings/${api.seg(vhost)}/e/${api.seg(bindSource.value)}/q/${api.seg(name)}`, { routing_key: bindKey.value }), 'Bound');
  });

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ` › in vhost “${vhost}”`),
    h('div', { class: 'title-row' }, h('h1', {}, name), h('div', { class: 'actions' }, purge, remove)),
    h('div', { class: 'charts' },
      h('section', { class: 'card' }, h('h2', {}, 'Messages'), chartEl),
      h('section', { class: 'card' }, h('h2', {}, 'Rates'), rateEl)),
    h('section', { class: 'card' }, h('h2', {}, 'Details'), facts),
    h('section', { class: 'card' },
      h('div', { class: 'title-row' }, h('h2', {}, `Head of the queue (next ${PEEK_COUNT}, not consumed)`),
        h('label', { class: 'inline' }, peekToggle, ' live')),
      head),
    h('section', { class: 'card' }, h('h2', {}, 'Consumers'), consumers),
    h('section', { class: 'card' }, h('h2', {}, 'Bindings'), bindings, bindForm),
    h('div', { class: 'two' }, publishForm({ vhost, exchange: '', routingKey: name }), getForm));

  async function refreshHead() {
    try {
      const list = await api.get(`${path}/peek?count=${PEEK_COUNT}`);
      fill(head, list.length ? list.map(messageView) : h('p', { class: 'empty' }, 'No ready messages.'));
    } catch (e) {
      fill(head, h('p', { class: 'error' }, e.message));
    }
  }

  return {
    async refresh() {
      const q = await api.get(path);
      const s = q.message_stats || {};
      const r = (k) => rateOf(s, k);
      if (!depth) {
        depth = new LiveChart(chartEl, { series: [{ label: 'ready', fill: true }, { label: 'unacked', fill: true }] });
        rates = new LiveChart(rateEl, { unit: '/s', series: [{ label: 'publish' }, { label: 'deliver / get' }, { label: 'ack' }] });
      }
      depth.push([q.messages_ready, q.messages_unacknowledged]);
      rates.push([r('publish'), r('deliver_get'), r('ack')]);
      fill(facts, 
        fact('Vhost', q.vhost),
        fact('Features', [q.durable ? 'durable' : 'transient', q.auto_delete ? 'auto-delete' : '', q.exclusive ? 'exclusive' : ''].filter(Boolean).join(', ')),
        fact('Arguments', JSON.stringify(q.arguments)),
        fact('Policy', q.policy || 'none'),
        fact('Ready / unacked / total', `${num(q.messages_ready)} / ${num(q.messages_unacknowledged)} / ${num(q.messages)}`),
        fact('Message bytes', `${bytes(q.message_bytes)} (${bytes(q.message_bytes_ram)} in memory, ${num(q.messages_paged_out)} paged out)`),
        fact('Memory', bytes(q.memory)),
        fact('Consumers', `${num(q.consumers)} (capacity ${Math.round((q.consumer_capacity || 0) * 100)} %)`),
        fact('Publish / deliver / ack', `${rate(r('publish'))} / ${rate(r('deliver_get'))} / ${rate(r('ack'))}`),
        q.idle_since ? fact('Idle since', q.idle_since) : null);
      fill(consumers, simpleTable([
        { title: 'Channel', cell: (c) => c.channel_details.name },
        { title: 'Tag', cell: (c) => c.consumer_tag },
        { title: 'Ack required', cell: (c) => (c.ack_required ? 'yes' : 'no') },
        { title: 'Prefetch', cell: (c) => num(c.prefetch_count), class: 'n' },
        { title: 'Active', cell: (c) => (c.active ? 'yes' : 'waiting') },
      ], q.consumer_details || []));
      const b = await api.get(`${path}/bindings`);
      fill(bindings, simpleTable([
        { title: 'From', cell: (x) => (x.source === '' ? '(default exchange)' : h('a', { href: `#/exchanges/${api.seg(vhost)}/${api.seg(x.source)}` }, x.source)) },
        { title: 'Routing key', cell: (x) => x.routing_key },
        { title: 'Arguments', cell: (x) => JSON.stringify(x.arguments) },
        { title: '', cell: (x) => (x.source === '' ? '' : h('button', {
          class: 'linkish',
          onclick: () => attempt(() => api.del(`/bindings/${api.seg(vhost)}/e/${api.seg(x.source)}/q/${api.seg(name)}/${api.seg(x.properties_key)}`), 'Unbound'),
        }, 'Unbind')) },
      ], b));
      if (peekOn) await refreshHead();
    },
    destroy() {
      if (depth) depth.destroy();
      if (rates) rates.destroy();
    },
  };
}
