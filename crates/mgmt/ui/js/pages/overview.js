// Overview: totals, live charts of message rates and queued messages, and the node.

import * as api from '../api.js';
import { h, fill, num, bytes, fact, rateOf } from '../dom.js';
import { LiveChart } from '../charts.js';

export default function overview(main) {
  const totals = h('div', { class: 'cards' });
  const ratesEl = h('div', { class: 'chart' });
  const depthEl = h('div', { class: 'chart' });
  const node = h('div', { class: 'node' });
  main.append(
    h('h1', {}, 'Overview'),
    totals,
    h('div', { class: 'charts' },
      h('section', { class: 'card' }, h('h2', {}, 'Message rates'), ratesEl),
      h('section', { class: 'card' }, h('h2', {}, 'Queued messages'), depthEl)),
    h('section', { class: 'card' }, h('h2', {}, 'Node'), node));
  let rates;
  let depth;

  return {
    async refresh() {
      const o = await api.get('/overview');
      const t = o.object_totals || {};
      const q = o.queue_totals || {};
      const s = o.message_stats || {};
      const r = (k) => rateOf(s, k);
      fill(totals, 
        card('Connections', num(t.connections), '#/connections'),
        card('Channels', num(t.channels), '#/channels'),
        card('Exchanges', num(t.exchanges), '#/exchanges'),
        card('Queues', num(t.queues), '#/queues'),
        card('Consumers', num(t.consumers)),
        card('Ready', num(q.messages_ready)),
        card('Unacked', num(q.messages_unacknowledged)),
      );
      if (!rates) {
        rates = new LiveChart(ratesEl, {
          unit: '/s',
          series: [{ label: 'publish' }, { label: 'deliver / get' }, { label: 'ack' }, { label: 'confirm' }],
        });
        depth = new LiveChart(depthEl, {
          series: [{ label: 'ready', fill: true }, { label: 'unacked', fill: true }],
        });
      }
      rates.push([r('publish'), r('deliver_get'), r('ack'), r('confirm')]);
      depth.push([q.messages_ready || 0, q.messages_unacknowledged || 0]);
      await this.refreshNode(o);
    },

    async refreshNode(o) {
      let n = null;
      try {
        [n] = await api.get('/nodes');
      } catch (_) { /* only monitoring and administrator users see nodes */ }
      fill(node, h('dl', { class: 'facts' },
        fact('Node', o.node || o.cluster_name),
        fact('Version', `${o.product_name} ${o.product_version} (RabbitMQ ${o.rabbitmq_version} API)`),
        n && fact('Memory', `${bytes(n.mem_used)} of ${bytes(n.mem_limit)}${n.mem_alarm ? ' — ALARM' : ''}`),
        n && fact('Disk free limit', `${bytes(n.disk_free_limit)}${n.disk_free_alarm ? ' — ALARM' : ''}`),
        n && fact('File descriptors', `${num(n.fd_used)} of ${num(n.fd_total)}`),
        n && fact('Uptime', uptime(n.uptime))));
    },

    destroy() {
      if (rates) rates.destroy();
      if (depth) depth.destroy();
    },
  };
}

function card(label, value, href) {
  const body = [h('div', { class: 'value' }, value), h('div', { class: 'label' }, label)];
  return href ? h('a', { class: 'stat', href }, body) : h('div', { class: 'stat' }, body);
}

function uptime(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${hh} h` : hh > 0 ? `${hh} h ${mm} min` : `${mm} min ${s % 60} s`;
}
