// Connections: paged list with traffic rates; closing one (with a reason, as RabbitMQ's
// X-Reason).

import * as api from '../api.js';
import { h, num, bytes, attempt, confirmThen } from '../dom.js';
import { PagedTable } from '../table.js';

export default function connections(main) {
  const traffic = (c, k) => (c[`${k}_details`] ? `${bytes(c[`${k}_details`].rate)}/s` : '–');
  const close = (c) => h('button', {
    class: 'linkish danger',
    onclick: () => confirmThen(`Close connection ${c.name}?`, () => attempt(
      () => api.request('DELETE', `/connections/${api.seg(c.name)}`),
      'Connection closed',
    ).then(() => table.refresh())),
  }, 'Close');
  const table = new PagedTable({
    sort: 'name',
    filterLabel: 'Filter by name',
    columns: [
      { title: 'Name', sort: 'name', cell: (c) => h('span', {}, c.name, c.user_provided_name ? h('span', { class: 'muted' }, ` (${c.user_provided_name})`) : null) },
      { title: 'User', sort: 'user', cell: (c) => c.user },
      { title: 'Vhost', sort: 'vhost', cell: (c) => c.vhost },
      { title: 'Client', cell: (c) => clientOf(c), class: 'muted' },
      { title: 'State', sort: 'state', cell: (c) => h('span', { class: `state ${c.state}` }, c.state) },
      { title: 'Channels', sort: 'channels', descending: true, cell: (c) => num(c.channels), class: 'n' },
      { title: 'In', sort: 'recv_oct_details.rate', descending: true, cell: (c) => traffic(c, 'recv_oct'), class: 'n' },
      { title: 'Out', sort: 'send_oct_details.rate', descending: true, cell: (c) => traffic(c, 'send_oct'), class: 'n' },
      { title: '', cell: close },
    ],
    load: (s) => api.page('/connections', s),
  });
  main.append(h('h1', {}, 'Connections'), table.el);
  return { refresh: () => table.refresh() };
}

function clientOf(c) {
  const p = c.client_properties || {};
  return [p.product, p.version, p.platform].filter(Boolean).join(' ');
}
