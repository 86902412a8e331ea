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

/// `ariaLabel` names a picker that stands alone (one inside a labelled field has its name).
export function vhostSelect({ all = true, onchange, value = '', ariaLabel } = {}) {
  const select = h('select', { 'aria-label': ariaLabel });
  select.dataset.all = all ? 'yes' : '';
  vhostNames().then((names) => setVhostOptions(select, names, value));
  if (onchange) select.addEventListener('change', () => onchange(select.value));
  return select;
}

/// Give a picker these vhosts, keeping its choice (or `value`, or "/") if still there.
export function setVhostOptions(select, names, value = select.value) {
  const keep = names.includes(value) || (select.dataset.all && value === '') ? value : (select.dataset.all ? '' : '/');
  while (select.firstChild) select.firstChild.remove();
  if (select.dataset.all) select.append(h('option', { value: '' }, 'All vhosts'));
  for (const n of names) select.append(h('option', { value: n }, n));
  select.value = keep;
}
