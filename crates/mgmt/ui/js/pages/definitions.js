// Definitions: export (download) and import (upload) of users, vhosts, permissions,
// policies, queues, exchanges and bindings, in RabbitMQ's format.

import * as api from '../api.js';
import { h, attempt, field, toast } from '../dom.js';
import { vhostSelect } from '../vhosts.js';

export default function definitions(main) {
  const exportVhost = vhostSelect();
  const download = h('button', {
    class: 'primary',
    onclick: () => attempt(async () => {
      const path = exportVhost.value ? `/definitions/${api.seg(exportVhost.value)}` : '/definitions';
      const text = await api.request('GET', path, undefined, { raw: true });
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      const a = h('a', { href: url, download: `warren-definitions${exportVhost.value ? `-${exportVhost.value.replace(/\W+/g, '_')}` : ''}.json` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    }, 'Definitions exported'),
  }, 'Download');

  const file = h('input', { type: 'file', accept: 'application/json,.json', name: 'file', required: true });
  const importVhost = vhostSelect();
  const upload = h('form', { class: 'inline-form' },
    field('File', file), field('Into', importVhost), h('button', { type: 'submit', class: 'primary' }, 'Import'));
  upload.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return toast('Choose a definitions file first', 'error');
    const text = await chosen.text();
    const path = importVhost.value ? `/definitions/${api.seg(importVhost.value)}` : '/definitions';
    return attempt(() => api.request('POST', path, text), `Imported ${chosen.name}`);
  });

  main.append(
    h('h1', {}, 'Definitions'),
    h('section', { class: 'card' }, h('h2', {}, 'Export'),
      h('p', {}, 'Users, vhosts, permissions, policies, queues, exchanges and bindings as a JSON file RabbitMQ also reads.'),
      h('div', { class: 'inline-form' }, field('From', exportVhost), download)),
    h('section', { class: 'card' }, h('h2', {}, 'Import'),
      h('p', {}, 'A definitions file from Warren or RabbitMQ. What cannot be applied is listed in the error.'),
      upload));
  return {};
}
