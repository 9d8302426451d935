// @ts-check
// The pages before anyone is signed in: first-run setup (the first administrator) and sign-in.

import { html, useState } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { Field } from '../lib/field.js';


export function SetupPage({ onDone }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/setup', { email, password, display_name: name });
      await api('POST', '/session', { email, password });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return html`<main class="narrow">
    <h1>Welcome to Huddle</h1>
    <p>Create the first administrator account.</p>
    <form onSubmit=${submit}>
      <${Field} label="Your name" value=${name} onInput=${setName} autocomplete="name"
        error=${error?.field === 'display_name' && error.message} />
      <${Field} label="Email" type="email" value=${email} onInput=${setEmail} autocomplete="email"
        error=${error?.field === 'email' && error.message} />
      <${Field} label="Password" type="password" value=${password} onInput=${setPassword}
        autocomplete="new-password" error=${error?.field === 'password' && error.message} />
      ${error && !error.field && html`<p class="error" role="alert">${error.message}</p>`}
      <button type="submit">Create account</button>
    </form>
  </main>`;
}

export function SignInPage({ onDone }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/session', { email, password });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return html`<main class="narrow">
    <h1>Sign in to Huddle</h1>
    <form onSubmit=${submit}>
      <${Field} label="Email" type="email" value=${email} onInput=${setEmail} autocomplete="username" />
      <${Field} label="Password" type="password" value=${password} onInput=${setPassword}
        autocomplete="current-password" />
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}
