// Small DOM and formatting helpers.

/// h('div', {class: 'x', onclick: f}, child, 'text', [more]) → element.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/// Replace an element's children (arrays are flattened, nulls skipped).
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const int = new Intl.NumberFormat('en');
export const num = (n) => (n === undefined || n === null ? '–' : int.format(n));

export function rate(r) {
  if (r === undefined || r === null) return '–';
  if (r === 0) return '0/s';
  return `${r >= 100 ? int.format(Math.round(r)) : r.toFixed(r >= 10 ? 1 : 2)}/s`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/// The per-second rate of counter `key` in a stats object (its `key_details.rate`); 0 when
/// the object has none yet.
export function rateOf(stats, key) {
  const details = stats && stats[`${key}_details`];
  return details ? details.rate : 0;
}

/// A term and its description, for a `dl.facts`.
export function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

/// The vhost as people write it in a list ("/" stays "/").
export const vhostLabel = (v) => v;

/// A link to a hash route.
export const link = (href, text) => h('a', { href }, text);

/// A transient message at the top of the page.
export function toast(text, kind = 'ok') {
  const host = document.getElementById('toasts');
  if (!host) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  host.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 3500);
}

/// Run an action, showing its error (the API's reason) if it fails; resolves to whether it
/// succeeded.
export async function attempt(action, done) {
  try {
    await action();
    if (done) toast(done);
    return true;
  } catch (e) {
    toast(e.message || String(e), 'error');
    return false;
  }
}

/// A labelled form field.
export function field(label, input) {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

export function confirmThen(question, action) {
  // eslint-disable-next-line no-alert
  if (window.confirm(question)) return action();
  return undefined;
}
