// The management API as the UI uses it: basic auth kept for this browser tab only
// (sessionStorage), RabbitMQ's error JSON turned into exceptions.

const AUTH_KEY = 'warren.auth';
const USER_KEY = 'warren.user';

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

export function login(user, password) {
  const token = btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
  sessionStorage.setItem(AUTH_KEY, token);
  sessionStorage.setItem(USER_KEY, user);
}

export function logout() {
  sessionStorage.removeItem(AUTH_KEY);
  sessionStorage.removeItem(USER_KEY);
}

export function loggedIn() {
  return sessionStorage.getItem(AUTH_KEY) !== null;
}

export function currentUser() {
  return sessionStorage.getItem(USER_KEY) || '';
}

/// Path segment for a vhost or object name ("/" is %2F, as the API wants).
export const seg = (name) => encodeURIComponent(name);

/// Listeners told when the API answers 401 (the session is over).
const onUnauthorised = [];
export function whenUnauthorised(fn) {
  onUnauthorised.push(fn);
}

export async function request(method, path, body, { raw = false } = {}) {
  // X-Requested-With: the API then answers 401 without a challenge, so the browser does
  // not open its own login dialog over ours.
  const headers = {
    Authorization: `Basic ${sessionStorage.getItem(AUTH_KEY) || ''}`,
    'X-Requested-With': 'XMLHttpRequest',
  };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`/api${path}`, init);
  const text = await res.text();
  if (!res.ok) {
    let error = '';
    let reason = text;
    try {
      const j = JSON.parse(text);
      error = j.error || '';
      reason = j.reason || j.error || text;
    } catch (_) { /* not JSON */ }
    // 401 "not_authorised" (RabbitMQ's spelling) is a user lacking a tag or permission for
    // this one request; any other 401 means the credentials no longer work.
    if (res.status === 401 && error !== 'not_authorised' && path !== '/whoami') {
      onUnauthorised.forEach((fn) => fn());
    }
    throw new ApiError(res.status, error, reason);
  }
  if (raw) return text;
  return text ? JSON.parse(text) : null;
}

export const get = (path) => request('GET', path);
export const put = (path, body) => request('PUT', path, body ?? {});
export const post = (path, body) => request('POST', path, body ?? {});
export const del = (path) => request('DELETE', path);

/// A page of a listing: {items, filtered_count, total_count, page, page_count}.
export function page(path, { page = 1, pageSize = 50, name = '', regex = false, sort = '', reverse = false, columns = '' } = {}) {
  const q = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  if (name) q.set('name', name);
  if (regex) q.set('use_regex', 'true');
  if (sort) q.set('sort', sort);
  if (reverse) q.set('sort_reverse', 'true');
  if (columns) q.set('columns', columns);
  return get(`${path}?${q}`);
}
