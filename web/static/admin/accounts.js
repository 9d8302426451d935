// @ts-check
// Accounts, for administrators: create one, import many from a CSV, change a role, reset a
// password.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { csvRows } from '../lib/csv.js';
import { Field } from '../lib/field.js';

/** Administrators: every account (searched, page by page), new accounts one by one or from a
 * CSV file, and setting someone's password. */
export function AccountsPage() {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState('');
  const [accounts, setAccounts] = useState([]);
  const [next, setNext] = useState(null);
  const [status, setStatus] = useState(null);
  const [problem, setProblem] = useState(null);
  const query = (cursor) => `/accounts?limit=50&q=${encodeURIComponent(search.trim())}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const load = async () => {
    const page = await api('GET', query(null));
    setAccounts(page.accounts);
    setNext(page.next_cursor);
  };
  const more = async () => {
    const page = await api('GET', query(next));
    setAccounts([...accounts, ...page.accounts]);
    setNext(page.next_cursor);
  };
  useEffect(() => {
    const t = setTimeout(() => load().catch(setProblem), 200); // typing: one request per pause
    return () => clearTimeout(t);
  }, [search]);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const person = await api('POST', '/accounts', { email, password, display_name: name, is_admin: admin });
      setStatus(`Created ${person.display_name} (${person.email}).`);
      setName(''); setEmail(''); setPassword(''); setAdmin(false); setError(null);
      load();
    } catch (err) {
      setError(err);
    }
  };
  const importFile = async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    setProblem(null);
    const [header, ...rows] = csvRows(await file.text());
    const columns = (header ?? []).map((c) => c.trim().toLowerCase().replace(/^\ufeff/, ''));
    if (columns[0] !== 'email' || columns[1] !== 'display_name') {
      setProblem({ message: 'The file must start with the header email,display_name (and optionally ,password).' });
      return;
    }
    const list = rows.map((r) => ({ email: r[0]?.trim() ?? '', display_name: r[1]?.trim() ?? '', ...(r[2]?.trim() ? { password: r[2].trim() } : {}) }));
    try {
      let answer = await api('POST', '/accounts/import', { accounts: list, issue_tokens: false });
      // Many passwords to hash: a background job on the server; follow its progress.
      while (answer.status === 'running') {
        setStatus(`Importing ${file.name}: ${answer.hashed} of ${answer.passwords} passwords set…`);
        await new Promise((r) => setTimeout(r, 1000));
        answer = await api('GET', `/accounts/import/${answer.id}`);
      }
      if (answer.status === 'failed') throw answer.error;
      setStatus(`Imported ${list.length} account${list.length === 1 ? '' : 's'} from ${file.name}.`);
      load();
    } catch (err) {
      setStatus(null);
      setProblem(err);
    }
  };
  const reset = async (person) => {
    const chosen = prompt(`New password for ${person.display_name} (at least 8 characters). They are signed out everywhere.`);
    if (!chosen) return;
    try {
      await api('PUT', `/accounts/${person.id}/password`, { password: chosen });
      setProblem(null);
      setStatus(`Password set for ${person.display_name}; they were signed out everywhere.`);
    } catch (err) {
      setProblem(err);
    }
  };
  return html`<main class="narrow">
    <h1>Accounts</h1>
    ${status && html`<p class="saved" role="status">${status}</p>`}
    ${problem && html`<p class="error" role="alert">${problem.message}</p>`}
    <section aria-label="All accounts">
      <label>Search accounts <input type="search" value=${search} onInput=${(e) => setSearch(e.target.value)} /></label>
      <table class="accounts">
        <thead><tr><th>Name</th><th>Email</th><th>Administrator</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>${accounts.map((a) => html`<tr key=${a.id} data-email=${a.email}>
          <td>${a.display_name}</td><td>${a.email}</td><td>${a.is_admin ? 'yes' : ''}</td>
          <td><button type="button" onClick=${() => reset(a)}>Reset password for ${a.display_name}</button></td>
        </tr>`)}</tbody>
      </table>
      ${accounts.length === 0 && html`<p>No accounts match.</p>`}
      ${next && html`<button type="button" onClick=${() => more().catch(setProblem)}>Load more accounts</button>`}
    </section>
    <h2>New account</h2>
    <form onSubmit=${submit} aria-label="New account">
      <${Field} label="Name" value=${name} onInput=${setName} error=${error?.field === 'display_name' && error.message} />
      <${Field} label="Email" type="email" value=${email} onInput=${setEmail} error=${error?.field === 'email' && error.message} />
      <${Field} label="Password" type="password" value=${password} onInput=${setPassword} autocomplete="new-password"
        error=${error?.field === 'password' && error.message} />
      <label><input type="checkbox" checked=${admin} onChange=${(e) => setAdmin(e.target.checked)} /> Administrator</label>
      ${error && !error.field && html`<p class="error" role="alert">${error.message}</p>`}
      <button type="submit">Create account</button>
    </form>
    <h2>Many accounts</h2>
    <label>Import accounts from a CSV file (email,display_name,password; without a password an account
      signs in only after you set one) <input type="file" accept=".csv,text/csv" onChange=${importFile} /></label>
  </main>`;
}
