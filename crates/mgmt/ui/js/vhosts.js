// A vhost picker shared by the list pages ("" = every vhost).

import * as api from './api.js';
import { h } from './dom.js';

export async function vhostNames() {
  try {
    return (await api.get('/vhosts')).map((v) => v.name);
  } catch (_) {
    return [];
  }
}

export function vhostSelect({ all = true, onchange, value = '' } = {}) {
  const select = h('select', { 'aria-label': 'Virtual host' }, all ? h('option', { value: '' }, 'All vhosts') : null);
  vhostNames().then((names) => {
    for (const n of names) select.append(h('option', { value: n, selected: n === value }, n));
    if (!all && !value && names.includes('/')) select.value = '/';
  });
  if (onchange) select.addEventListener('change', () => onchange(select.value));
  return select;
}
