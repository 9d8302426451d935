// @ts-check
// The page of an invitation link: accept it signed in, or sign in (or join as a guest) first.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { Field } from '../lib/field.js';

export function InvitePage({ token, me, onJoined, onSignIn }) {
  const [invitation, setInvitation] = useState(null);
  const [error, setError] = useState(null);
  const [name, setName] = useState('');
  useEffect(() => { api('GET', `/invitations/${token}`).then(setInvitation).catch(setError); }, [token]);
  const accept = async (e) => {
    e.preventDefault();
    try {
      const body = me ? undefined : { display_name: name };
      const accepted = await api('POST', `/invitations/${token}/accept`, body);
      onJoined(accepted.room);
    } catch (err) {
      setError(err);
    }
  };
  if (!invitation) {
    return html`<main class="narrow"><h1>Invitation</h1>
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : html`<p>Loading…</p>`}</main>`;
  }
  return html`<main class="narrow">
    <h1>Join ${invitation.title}</h1>
    <p>${invitation.invited_by_name} invited ${invitation.email} to <strong>${invitation.title}</strong>.</p>
    <form onSubmit=${accept}>
      ${me ? html`<p>You are signed in as ${me.display_name}.</p>`
        : invitation.guests_allowed ? html`${invitation.has_account && html`<p>${invitation.email} has an account here: sign in to join with it.</p>`}
          <${Field} label="Your name" value=${name} onInput=${setName} autocomplete="name"
            error=${error?.field === 'display_name' && error.message} />`
        : html`<p>This room takes only people with an account here: sign in to join.</p>`}
      ${error && error.field !== 'display_name' && html`<p class="error" role="alert">${error.message}</p>`}
      ${(me || invitation.guests_allowed) && html`<button type="submit">${me ? `Join as ${me.display_name}` : 'Join as a guest'}</button>`}
    </form>
    ${!me && html`<p><button type="button" class="link" onClick=${onSignIn}>I have an account: sign in</button></p>`}
  </main>`;
}
