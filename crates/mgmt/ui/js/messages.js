// Publishing and showing messages (shared by the queue and exchange pages).

import * as api from './api.js';
import { h, attempt, field } from './dom.js';

/// A publish form: to `exchange` with a routing key (fixed when `routingKey` is given).
export function publishForm({ vhost, exchange, routingKey }) {
  const key = h('input', { name: 'routing_key', value: routingKey ?? '', disabled: routingKey !== undefined });
  const persistent = h('input', { type: 'checkbox' });
  const headers = h('input', { name: 'headers', placeholder: '{"x-trace": "1"}' });
  const props = h('input', { name: 'properties', placeholder: '{"content_type": "text/plain"}' });
  const payload = h('textarea', { name: 'payload', rows: 4, placeholder: 'message body' });
  const form = h('form', { class: 'publish card' },
    h('h2', {}, 'Publish a message'),
    field('Routing key', key),
    h('label', { class: 'inline' }, persistent, ' persistent (delivery mode 2)'),
    field('Headers (JSON)', headers),
    field('Other properties (JSON)', props),
    field('Payload', payload),
    h('button', { type: 'submit', class: 'primary' }, 'Publish'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(async () => {
      const properties = parseObject(props.value, 'Other properties');
      const hdrs = parseObject(headers.value, 'Headers');
      if (Object.keys(hdrs).length) properties.headers = hdrs;
      if (persistent.checked) properties.delivery_mode = 2;
      const res = await api.post(`/exchanges/${api.seg(vhost)}/${api.seg(exchange || 'amq.default')}/publish`, {
        routing_key: key.value,
        properties,
        payload: payload.value,
        payload_encoding: 'string',
      });
      if (!res.routed) throw new Error('Message published, but not routed to any queue');
    }, 'Message published');
  });
  return form;
}

function parseObject(text, what) {
  if (!text.trim()) return {};
  let v;
  try { v = JSON.parse(text); } catch (_) { throw new Error(`${what} must be a JSON object`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
  return v;
}

/// One message as /get and /peek return it.
export function messageView(m, i) {
  const p = m.properties || {};
  const shown = Object.entries(p).filter(([k]) => k !== 'headers');
  return h('article', { class: 'message' },
    h('header', {}, h('strong', {}, `#${i + 1}`),
      h('span', { class: 'muted' }, ` exchange “${m.exchange}”, routing key “${m.routing_key}”`),
      m.redelivered ? h('span', { class: 'badge' }, 'redelivered') : null,
      h('span', { class: 'muted' }, ` ${m.payload_bytes} bytes`)),
    shown.length ? h('dl', { class: 'props' }, shown.map(([k, v]) => [h('dt', {}, k), h('dd', {}, JSON.stringify(v))])) : null,
    p.headers ? h('dl', { class: 'props' }, Object.entries(p.headers).map(([k, v]) => [h('dt', {}, k), h('dd', {}, JSON.stringify(v))])) : null,
    h('pre', { class: 'payload' }, m.payload_encoding === 'base64' ? `(base64) ${m.payload}` : m.payload));
}
