// @ts-check
// Talking to the Huddle API from the page: JSON in and out, the session cookie for identity, and
// the CSRF token (from the script-readable `huddle_csrf` cookie) on every change.


export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
    /** What the server said besides, where it says more (each refused row of an import). */
    this.details = body?.error?.details ?? null;
  }
}

function csrfToken() {
  const pair = document.cookie.split('; ').find((c) => c.startsWith('huddle_csrf='));
  return pair ? decodeURIComponent(pair.slice('huddle_csrf='.length)) : '';
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A request whose body is not JSON: a FormData (a file upload) or a file sent as it is (CSV).
// Answers the parsed JSON; a failure throws an ApiError that keeps the server's `details`.
export async function send(method, path, body, contentType) {
  const headers = { Accept: 'application/json', 'X-CSRF-Token': csrfToken() };
  if (contentType) headers['Content-Type'] = contentType;
  const response = await fetch(`/api/v1${path}`, { method, headers, credentials: 'same-origin', body });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    throw new ApiError(response.status, data);
  }
  return data;
}
