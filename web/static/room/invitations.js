// @ts-check
// Invitations by email for a room, with the state of each email.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { useReload } from '../lib/reload.js';

const INVITATION_EVENTS = new Set(['invitations_created', 'invitation_closed', 'member_added', 'resync']);

/** Invitations by email to this room (owners and moderators): send, see each email, revoke. */
export function InvitePanel({ room, live }) {
  const stream = room.parent_id ?? room.id;
  const [list, setList] = useState([]);
  const [emails, setEmails] = useState('');
  const [role, setRole] = useState('participant');
  const [error, setError] = useState(null);
  const load = () => api('GET', `/rooms/${room.id}/invitations`).then((r) => setList(r.invitations)).catch(setError);
  useReload(live, stream, INVITATION_EVENTS, load, [room.id]);
  // Delivery changes are not events: look again while an email is still on its way.
  const waiting = list.some((i) => i.status === 'pending' && (i.mail_status === 'queued' || i.mail_status === 'retrying'));
  useEffect(() => {
    if (!waiting) return undefined;
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [waiting, room.id]);
  const act = async (fn) => {
    try { setError(null); await fn(); await load(); } catch (err) { setError(err); }
  };
  const submit = (e) => {
    e.preventDefault();
    const list_ = emails.split(/[\s,;]+/).filter(Boolean);
    act(async () => { await api('POST', `/rooms/${room.id}/invitations`, { emails: list_, role }); setEmails(''); });
  };
  const now = Date.now();
  return html`<section class="invitations" aria-label="Invitations">
    <h2>Invite by email</h2>
    <form class="inline" onSubmit=${submit}>
      <label class="grow">Email addresses <textarea rows="2" value=${emails} onInput=${(e) => setEmails(e.target.value)}
        placeholder="one or more, separated by commas or lines"></textarea></label>
      <label>Role <select aria-label="Role of the invited" value=${role} onChange=${(e) => setRole(e.target.value)}>
        <option value="participant">Participant</option><option value="moderator">Moderator</option></select></label>
      <button type="submit">Send invitations</button>
    </form>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    ${list.length > 0 && html`<table class="invitation-list">
      <thead><tr><th>Email</th><th>Role</th><th>Invitation</th><th>Email delivery</th><th></th></tr></thead>
      <tbody>${list.map((i) => {
        const state = i.status === 'pending' && i.expires_at <= now ? 'expired' : i.status;
        const delivery = i.mail_status === 'sent' ? 'sent'
          : i.mail_status === 'queued' ? 'sending…'
          : i.mail_status === 'retrying' ? `failed ${i.mail_attempts}×, retrying ${i.mail_next_at ? new Date(i.mail_next_at).toLocaleTimeString() : ''}`
          : `failed: ${i.mail_error ?? ''}`;
        return html`<tr key=${i.id} data-email=${i.email}>
          <td>${i.email}</td><td>${i.role}</td><td class="state">${state}</td>
          <td class="delivery" title=${i.mail_error ?? ''}>${delivery}</td>
          <td>${i.status === 'pending' && html`
            <button type="button" onClick=${() => act(() => api('POST', `/rooms/${room.id}/invitations/${i.id}/resend`))}>Resend to ${i.email}</button>
            <button type="button" class="danger" onClick=${() => act(() => api('DELETE', `/rooms/${room.id}/invitations/${i.id}`))}>Revoke ${i.email}</button>`}</td>
        </tr>`;
      })}</tbody>
    </table>`}
  </section>`;
}
