// Channels: paged list (each connection reports its own).

import * as api from '../api.js';
import { h, num, rate, rateOf } from '../dom.js';
import { PagedTable } from '../table.js';

export default function channels(main) {
  const stat = (c, k) => rateOf(c.message_stats, k);
  const mode = (c) => [c.confirm ? 'confirm' : '', c.transactional ? 'tx' : ''].filter(Boolean).join(' ');
  const table = new PagedTable({
    sort: 'name',
    columns: [
      { title: 'Channel', sort: 'name', cell: (c) => c.name },
      { title: 'User', sort: 'user', cell: (c) => c.user },
      { title: 'Vhost', sort: 'vhost', cell: (c) => c.vhost },
      { title: 'Mode', cell: mode, class: 'muted' },
      { title: 'Prefetch', sort: 'prefetch_count', cell: (c) => num(c.prefetch_count), class: 'n' },
      { title: 'Consumers', sort: 'consumer_count', descending: true, cell: (c) => num(c.consumer_count), class: 'n' },
      { title: 'Unacked', sort: 'messages_unacknowledged', descending: true, cell: (c) => num(c.messages_unacknowledged), class: 'n' },
      { title: 'Publish', cell: (c) => rate(stat(c, 'publish')), class: 'n' },
      { title: 'Deliver', cell: (c) => rate(stat(c, 'deliver_get')), class: 'n' },
      { title: 'Ack', cell: (c) => rate(stat(c, 'ack')), class: 'n' },
    ],
    load: (s) => api.page('/channels', s),
  });
  main.append(h('h1', {}, 'Channels'), table.el);
  return { refresh: () => table.refresh() };
}
