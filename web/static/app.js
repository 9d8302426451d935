// @ts-check
// Huddle's web app: first-run setup, sign-in, the list of my rooms, and a room with its live chat
// and members. Plain ES modules; every text a person typed is rendered as text, never as HTML.

import { html, render, useState, useEffect, useRef, useCallback } from './vendor/preact-htm.js';
import { api, ApiError } from './api.js';
import { Live } from './live.js';
import { BreakoutPanel, HelpRequests, RoundBar, useBreakout } from './breakout.js';
import { store, update, useStore, say, roomName, roundLive, freeMode } from './lib/store.js';
import { ContentPanel, InvitePanel, MeetingsPanel } from './collab.js';
import { CallPanel, CallQuality } from './call.js';
import { RecordingBar } from './recording.js';
import { RoomTask } from './activity.js';
import { titleRoom } from './title.js';
import { csvRows } from './csv.js';


/** The page's path and a way to go elsewhere without reloading.
 * @returns {[string, (to: string) => void]} */
function useRoute() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to) => {
    history.pushState(null, '', to);
    setPath(to);
  }, []);
  return [path, navigate];
}

function Field({ label, type = 'text', value, onInput, error, autocomplete }) {
  const id = `f-${label.toLowerCase().replace(/\W+/g, '-')}`;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type=${type} value=${value} autocomplete=${autocomplete}
      onInput=${(e) => onInput(e.target.value)} aria-invalid=${error ? 'true' : 'false'} />
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}

function SetupPage({ onDone }) {
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

function SignInPage({ onDone }) {
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

function InvitePage({ token, me, onJoined, onSignIn }) {
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

function RoomsPage({ navigate, me }) {
  const [rooms, setRooms] = useState(null);
  const [name, setName] = useState('');
  const [error, setError] = useState(null);
  const load = () => api('GET', '/rooms').then((r) => setRooms(r.rooms));
  useEffect(() => {
    load();
    return store.live.on((event) => {
      if (['room_created', 'member_added', 'members_added', 'member_removed', 'room_renamed', 'room_deleted'].includes(event.type)) load();
    });
  }, []);
  const create = async (e) => {
    e.preventDefault();
    try {
      const room = await api('POST', '/rooms', { name });
      setName('');
      navigate(`/rooms/${room.id}`);
    } catch (err) {
      setError(err);
    }
  };
  return html`<main>
    <h1>My rooms</h1>
    ${rooms === null ? html`<p>Loading…</p>` : rooms.length === 0 ? html`<p>No rooms yet.</p>` : html`
      <ul class="rooms">
        ${rooms.map((r) => html`<li key=${r.id}>
          <a href=${`/rooms/${r.id}`} onClick=${(e) => { e.preventDefault(); navigate(`/rooms/${r.id}`); }}>${r.title}</a>
          <span class="role">${r.role}</span>
        </li>`)}
      </ul>`}
    ${!me.is_guest && html`<form class="inline" onSubmit=${create}>
      <${Field} label="New room name" value=${name} onInput=${setName} error=${error?.message} />
      <button type="submit">Create room</button>
    </form>`}
  </main>`;
}

/** Administrators: every account (searched, page by page), new accounts one by one or from a
 * CSV file, and setting someone's password. */
function AccountsPage() {
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

function RoomAdmin({ room, members, me, navigate, reload }) {
  const [name, setName] = useState(room.name);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('participant');
  const [error, setError] = useState(null);
  const act = async (fn) => {
    try { setError(null); await fn(); reload(); } catch (err) { setError(err); }
  };
  // Several addresses at once (commas, spaces or lines between them): each is added on its own,
  // and the ones that could not be stay in the field with what was wrong beside it.
  const [refused, setRefused] = useState(null);
  const [added, setAdded] = useState(null);
  const addMembers = async (e) => {
    e.preventDefault();
    const emails = [...new Set(email.split(/[\s,;]+/).filter(Boolean))];
    const failed = [];
    let count = 0;
    for (const address of emails) {
      try {
        await api('POST', `/rooms/${room.id}/members`, { email: address, role });
        count += 1;
      } catch (err) {
        failed.push([address, err.message]);
      }
    }
    setEmail(failed.map(([address]) => address).join(', '));
    setRefused(failed.length ? failed.map(([address, why]) => `${address}: ${why}`).join('; ') : null);
    setAdded(count ? `Added ${count} member${count === 1 ? '' : 's'}.` : null);
    reload();
  };
  return html`<section class="room-admin" aria-label="Manage room">
    <h2>Manage</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); act(() => api('PATCH', `/rooms/${room.id}`, { name })); }}>
      <${Field} label="Room name" value=${name} onInput=${setName} />
      <button type="submit">Rename</button>
    </form>
    <form class="inline" onSubmit=${addMembers}>
      <${Field} label="Add members by email" value=${email} onInput=${(v) => { setEmail(v); setRefused(null); }}
        error=${refused} autocomplete="off" />
      <label>Role <select aria-label="Role of the new member" value=${role} onChange=${(e) => setRole(e.target.value)}>
        <option value="participant">Participant</option><option value="moderator">Moderator</option><option value="owner">Owner</option>
      </select></label>
      <button type="submit">Add members</button>
      ${added && html`<span class="saved" role="status">${added}</span>`}
    </form>
    <ul class="member-admin">${members.filter((m) => m.person_id !== me.id).map((m) => html`<li key=${m.person_id}>
      ${m.display_name}
      <select aria-label=${`Role of ${m.display_name}`} value=${m.role}
        onChange=${(e) => act(() => api('PATCH', `/rooms/${room.id}/members/${m.person_id}`, { role: e.target.value }))}>
        <option value="participant">Participant</option><option value="moderator">Moderator</option><option value="owner">Owner</option>
      </select>
      <button type="button" onClick=${() => confirm(`Remove ${m.display_name} from ${room.title}? They lose its chat, files and call at once.`)
        && act(() => api('DELETE', `/rooms/${room.id}/members/${m.person_id}`))}>Remove ${m.display_name}</button>
    </li>`)}</ul>
    ${room.role === 'owner' && !room.parent_id && html`<button type="button" class="danger"
      onClick=${() => confirm(`Delete ${room.name}${room.breakout_rooms.length ? ` and its ${room.breakout_rooms.length} breakout room${room.breakout_rooms.length === 1 ? '' : 's'}` : ''}? Every chat message, file, recording and meeting in them is deleted, for everyone, and cannot be brought back.`)
        && act(async () => { await api('DELETE', `/rooms/${room.id}`); navigate('/'); })}>Delete room</button>`}
  </section>`;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Time is up: the rooms close in 42 s", counting down. */
function Closing({ at }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = Math.max(0, Math.ceil((at - now) / 1000));
  return html`Time is up: the rooms close in ${left} s.`;
}

/** Events of a main room that change who is in its breakout rooms. */
const PLACE_EVENTS = new Set(['assigned', 'located', 'connected', 'disconnected', 'breakout_started',
  'breakout_stopped', 'rooms_brought_back', 'assignments_reset', 'assignments_imported']);

/** Where an event of the main room `mainId`'s stream takes the person `me` now, if it moves
 * them: the id of the room they are in after it.
 * @param {any} event
 * @param {string} me
 * @param {string} mainId
 * @returns {string | null} */
function movedTo(event, me, mainId) {
  if (event.person_id !== me) return null;
  if (event.type === 'located') return event.location ?? null;
  // During a round, an assignment takes the person along (there is no `located` then).
  if (event.type === 'assigned' && roundLive()) return event.breakout ?? mainId;
  return null;
}


function RoomPage({ id, me, navigate }) {
  const [room, setRoom] = useState(null);
  const [messages, setMessages] = useState([]);
  const [older, setOlder] = useState(null); // cursor of the next older page, if any
  const [members, setMembers] = useState([]);
  const [missing, setMissing] = useState(false);
  const draftKey = `huddle-draft-${id}`;
  const [draft, setDraft] = useState(sessionStorage.getItem(draftKey) ?? '');
  const [error, setError] = useState(null);
  const list = useRef(null);
  const placeTimer = useRef(null);

  const load = async () => {
    try {
      const [r, page, m] = await Promise.all([
        api('GET', `/rooms/${id}`),
        api('GET', `/rooms/${id}/messages?order=newest&limit=100`),
        api('GET', `/rooms/${id}/members`),
      ]);
      setRoom(r);
      // A page already left may still be loading: only the page on screen says where we are.
      if (location.pathname === `/rooms/${id}`) update(r.parent_id ? { room: r, lastBreakout: r } : { room: r });
      setMessages(page.messages.reverse());
      setOlder(page.next_cursor);
      setMembers(m.members);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setMissing(true);
    }
  };
  const loadRoom = async () => {
    try {
      const r = await api('GET', `/rooms/${id}`);
      setRoom(r);
      // A page already left may still be loading: only the page on screen says where we are.
      if (location.pathname === `/rooms/${id}`) update(r.parent_id ? { room: r, lastBreakout: r } : { room: r });
    } catch {
      // Moved out of this room: the breakout panel takes the page where the person is now.
    }
  };
  useEffect(() => {
    load();
    const off = store.live.on((event) => {
      if (event.type === 'resync') return load();
      // A broadcast is an event of the main room carrying the message of the recipient's room.
      const posted = event.type === 'message_posted' && event.room === id ? event.message
        : event.type === 'broadcast' && event.message?.room_id === id ? event.message : null;
      const inBreakout = store.room?.id === id && store.room.parent_id && event.stream === store.room.parent_id;
      // Moved out of this breakout room: the page goes where the person is now, and does not ask
      // for this room again (during a round it may no longer be theirs to see).
      const to = inBreakout ? movedTo(event, me.id, store.room.parent_id) : null;
      if (to && to !== id) {
        clearTimeout(placeTimer.current);
        navigate(`/rooms/${to}`);
        return;
      }
      // In a breakout room, who belongs here changes with the round's events of its main room.
      if (inBreakout && PLACE_EVENTS.has(event.type)) {
        clearTimeout(placeTimer.current);
        placeTimer.current = setTimeout(loadRoom, 100); // a burst of moves: one reload
        return;
      }
      if (!posted && event.room !== id && event.stream !== id) return;
      if (posted) {
        setMessages((ms) => (ms.some((m) => m.id === posted.id) ? ms : [...ms, { seq: event.seq, ...posted }]));
      } else if (event.type === 'room_deleted') {
        navigate('/');
      } else if (['room_renamed', 'member_added', 'members_added', 'member_removed', 'role_changed', 'breakout_rooms_created', 'breakout_rooms_deleted'].includes(event.type)) {
        load();
      }
    });
    return () => { off(); clearTimeout(placeTimer.current); };
  }, [id]);
  // The tab says which room this is.
  useEffect(() => {
    if (room) titleRoom(room.title);
    return () => titleRoom(null);
  }, [room?.title]);
  const newest = messages.length ? messages[messages.length - 1].id : null;
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [newest]);

  const loadingOlder = useRef(false);
  const loadOlder = async () => {
    // Scrolling to the top and the button can ask at once: one page at a time.
    if (!older || loadingOlder.current) return;
    loadingOlder.current = true;
    try {
      const page = await api('GET', `/rooms/${id}/messages?order=newest&limit=100&cursor=${older}`);
      const box = list.current;
      const fromBottom = box ? box.scrollHeight - box.scrollTop : 0;
      setMessages((ms) => {
        const known = new Set(ms.map((m) => m.id));
        return [...page.messages.reverse().filter((m) => !known.has(m.id)), ...ms];
      });
      setOlder(page.next_cursor);
      // Keep the reader where they were.
      requestAnimationFrame(() => { if (box) box.scrollTop = box.scrollHeight - fromBottom; });
    } finally {
      loadingOlder.current = false;
    }
  };
  const type = (text) => {
    setDraft(text);
    sessionStorage.setItem(draftKey, text);
  };
  const send = async (e) => {
    e.preventDefault();
    if (!draft.trim()) return;
    try {
      const posted = await api('POST', `/rooms/${id}/messages`, { text: draft });
      setMessages((ms) => (ms.some((m) => m.id === posted.id) ? ms : [...ms, posted]));
      type('');
      setError(null);
    } catch (err) {
      setError(err); // the draft stays
    }
  };

  if (missing) return html`<main><h1>Room not found</h1><p><a href="/" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>Back to my rooms</a></p></main>`;
  if (!room) return html`<main><p>Loading…</p></main>`;
  const chat = html`<section class="chat" aria-label="Chat">
        <ol class="messages" ref=${list} aria-live="polite" onScroll=${(e) => { if (e.target.scrollTop === 0) loadOlder(); }}>
          ${older && html`<li class="older"><button type="button" class="link" onClick=${loadOlder}>Load earlier messages</button></li>`}
          ${messages.map((m) => html`<li key=${m.id} class=${`message ${m.kind}`}>
            ${m.kind === 'system' ? '' : html`<strong>${m.author_name}</strong> `}
            <span class="text">${m.text}</span>
            <time>${time(m.created_at)}</time>
          </li>`)}
        </ol>
        <form class="composer" onSubmit=${send}>
          <label for="composer" class="visually-hidden">Message</label>
          <textarea id="composer" rows="2" value=${draft} onInput=${(e) => type(e.target.value)}
            onKeyDown=${(e) => { if (e.key === 'Enter' && !e.shiftKey) send(e); }}></textarea>
          <button type="submit">Send</button>
          ${error && html`<p class="error" role="alert">${error.message}</p>`}
        </form>
      </section>`;
  const people = html`<aside class="members" aria-label="Members">
        ${room.parent_id
          ? html`<h2>In this room</h2>
            <ul>${room.people.map((p) => html`<li key=${p.person_id} data-person=${p.display_name}>${p.display_name}${p.present ? html` <span class="role">here now</span>` : ''}</li>`)}</ul>`
          : html`<h2>Members</h2>
            <ul>${members.map((m) => html`<li key=${m.person_id}>${m.display_name} <span class="role">${m.role}</span></li>`)}</ul>`}
        ${room.breakout_rooms.length > 0 && html`<h2>Breakout rooms</h2>
          <ul>${room.breakout_rooms.map((b) => html`<li key=${b.id}>
            ${b.can_enter
              ? html`<a href=${`/rooms/${b.id}`} onClick=${(e) => { e.preventDefault(); navigate(`/rooms/${b.id}`); }}>${b.name}</a>`
              : b.name}</li>`)}</ul>`}
      </aside>`;
  return html`<${RoomLayout} key=${room.parent_id ?? room.id} room=${room} me=${me} navigate=${navigate}
    chat=${chat} people=${people} members=${members} reload=${load} />`;
}

/** The side panel's tabs, in order; Manage only for owners and moderators. */
const TABS = ['Chat', 'People', 'Breakout rooms', 'Content', 'Meetings', 'Manage'];

/**
 * A room page laid out around its call: a top bar that stays in view (the room's title, the
 * round's time left, asking for help), the stage with the call, and a side panel with tabs
 * (Chat, People, Breakout rooms, Content, Meetings, Manage). At phone width the stage is on top and
 * the tabs are a bar at the bottom. Every tab's panel stays mounted, hidden when not chosen, so
 * that what it listens to (the dashboard's events, chat) goes on; the chosen tab is kept for the
 * visit, across the main room and its breakout rooms.
 */
function RoomLayout({ room, me, navigate, chat, people, members, reload }) {
  const mainId = room.parent_id ?? room.id;
  const manages = room.role === 'owner' || room.role === 'moderator';
  const live = store.live;
  const b = useBreakout({ mainId, here: room.id, me, live, navigate });
  // A breakout room's title leads to its main room (seed 000). Someone who is in this room during a
  // round leaves it on the way (their call goes with them); a participant may only when the
  // settings let them return, and otherwise the title is no link.
  const located = b.session && b.session.status !== 'idle'
    && b.session.people.find((p) => p.person_id === me.id)?.location === room.id;
  const mayLeave = manages || b.session?.settings.return_to_main;
  const toMain = async (e) => {
    e.preventDefault();
    if (located && !(await b.run('POST', '/leave'))) return;
    navigate(`/rooms/${mainId}`);
  };
  const heading = room.parent_id && room.can_open_main && (!located || mayLeave)
    ? html`<a class="title" href=${`/rooms/${mainId}`} title="Back to the main room" onClick=${toMain}>${room.title}</a>`
    : room.title;
  // A breakout room's page when the person is elsewhere (between rounds, or a moderator looking
  // in): the stage says where their call is instead of offering this room's.
  const at = b.session?.people.find((p) => p.person_id === me.id)?.location;
  const away = room.parent_id && at && at !== room.id ? {
    name: at === mainId ? 'the main room' : roomName(at) ?? 'another room',
    href: `/rooms/${at}`,
    go: (e) => { e.preventDefault(); navigate(`/rooms/${at}`); },
  } : null;
  const tabs = TABS.filter((t) => t !== 'Manage' || manages);
  const [tab, setTabState] = useState(() => {
    const kept = sessionStorage.getItem('huddle-tab');
    return tabs.includes(kept) ? kept : 'Chat';
  });
  const choose = (t) => { sessionStorage.setItem('huddle-tab', t); setTabState(t); };
  const onKey = (e) => {
    // Arrow keys move between tabs, as a tab list does.
    const i = tabs.indexOf(tab);
    const next = e.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : e.key === 'ArrowLeft' ? tabs[(i + tabs.length - 1) % tabs.length] : null;
    if (next) { choose(next); document.getElementById(`tab-${next.replace(/\W+/g, '-')}`)?.focus(); }
  };
  const slug = (t) => t.replace(/\W+/g, '-');
  const panel = (t, content) => html`<div role="tabpanel" id=${`panel-${slug(t)}`} aria-labelledby=${`tab-${slug(t)}`}
      class="tab-panel" hidden=${tab !== t}>${content}</div>`;
  return html`<main class="room-page">
    <div class="room-bar">
      <h1>${heading}</h1>
      <${RecordingBar} key=${room.id} room=${room} live=${live} manages=${manages} />
      <${RoundBar} b=${b} mainId=${mainId} me=${me} />
    </div>
    <${HelpRequests} b=${b} navigate=${navigate} />
    <${RoomTask} key=${room.id} b=${b} room=${room} />
    <p class="visually-hidden" aria-live="polite" data-said>${b.said}</p>
    <div class=${`room-body ${tab === 'Breakout rooms' && manages ? 'wide-side' : ''}`}>
      <section class="stage" aria-label="Stage">
        <${CallPanel} live=${live} mainId=${mainId} me=${me} canModerate=${manages} room=${room} away=${away} />
      </section>
      <div class="side">
        <div class="tabs" role="tablist" aria-label="Room panels" onKeyDown=${onKey}>
          ${tabs.map((t) => html`<button type="button" role="tab" id=${`tab-${slug(t)}`} aria-controls=${`panel-${slug(t)}`}
              aria-selected=${tab === t ? 'true' : 'false'} tabindex=${tab === t ? 0 : -1} onClick=${() => choose(t)}>
            ${t}${t === 'Breakout rooms' && b.waitingHelp > 0 ? html` <span class="badge" aria-label=${`${b.waitingHelp} asking for help`}>${b.waitingHelp}</span>` : ''}
          </button>`)}
        </div>
        ${panel('Chat', chat)}
        ${panel('People', html`${people}${manages && html`<${CallQuality} mainId=${mainId} visible=${tab === 'People'} />`}`)}
        ${panel('Breakout rooms', html`<${BreakoutPanel} b=${b} mainId=${mainId} here=${room.id} me=${me} live=${live} navigate=${navigate} />`)}
        ${panel('Content', html`<${ContentPanel} room=${room} me=${me} live=${live} />`)}
        ${panel('Meetings', html`<${MeetingsPanel} room=${room} me=${me} live=${live} />`)}
        ${manages && panel('Manage', html`<${InvitePanel} room=${room} live=${live} />
          <${RoomAdmin} key=${room.id + room.name} room=${room} members=${members} me=${me} navigate=${navigate} reload=${reload} />`)}
      </div>
    </div>
  </main>`;
}

function App() {
  const [me, setMe] = useState(undefined); // undefined: loading; null: signed out
  const [setupNeeded, setSetupNeeded] = useState(false);
  const [status, setStatus] = useState('connecting');
  const [path, navigate] = useRoute();

  const loadMe = async () => {
    try {
      const person = await api('GET', '/session');
      // The connection exists before any page renders: pages subscribe in their first effects.
      if (!store.live) update({ live: new Live() });
      setSetupNeeded(false); // someone is signed in, so setup is done: signing out shows sign-in
      setMe(person);
    } catch {
      const setup = await api('GET', '/setup');
      setSetupNeeded(setup.needed);
      setMe(null);
    }
  };
  useEffect(() => { loadMe(); }, []);
  useEffect(() => (me && store.live ? store.live.onStatus(setStatus) : undefined), [me]);
  // Signed out elsewhere (another tab, a new password): this page signs out too.
  useEffect(() => {
    if (status !== 'signed-out') return;
    store.live?.close();
    update({ live: null });
    setMe(null);
    navigate('/signin');
  }, [status]);
  const notice = useStore((s) => s.notice);
  const [banner, setBanner] = useState(null);
  // One notice for each change of the person's place, each replacing the last; moderators, who
  // make the changes, get none of them.
  useEffect(() => (me && store.live ? store.live.on((event) => {
    const here = location.pathname === `/rooms/${store.room?.id}` ? store.room : null;
    const manages = here?.role === 'owner' || here?.role === 'moderator';
    if (event.type === 'breakout_started' && event.your_room) {
      say(`Breakout rooms started: you are now in ${event.your_room.name}.`);
      update({ greeted: true });
      navigate(`/rooms/${event.your_room.id}`);
    } else if (event.type === 'breakout_started' && !manages && here) {
      // Unknown until the page's first dashboard: then that says it.
      if (freeMode() && !here.parent_id) {
        say('Breakout rooms started: choose a room in the Breakout rooms panel.', 'choose');
        update({ greeted: true });
      }
    } else if (event.type === 'assigned' && event.person_id === me.id && event.by && !manages) {
      const name = event.breakout ? roomName(event.breakout) ?? 'another room' : null;
      if (!roundLive()) say(name ? `${event.by} assigned you to ${name}.` : `${event.by} took you out of your breakout room.`);
      else say(name ? `You were moved to ${name} by ${event.by}.` : `You were moved to the main room by ${event.by}.`);
    } else if (event.type === 'rooms_brought_back' && store.lastBreakout && event.rooms?.includes(store.lastBreakout.id) && !manages) {
      say(store.lastBreakout.can_open_main
        ? 'Your room was closed: you are back in the main room.'
        : `${store.lastBreakout.name} was closed for this round: you stay in it.`);
    } else if (event.type === 'breakout_stopped') {
      setBanner(null);
      if (here?.parent_id === event.room && !here.can_open_main) {
        // A guest or breakout-only member: this room is their place before and after a round.
        say(`The breakout round has ended: you stay in ${here.name}.`);
        return;
      }
      // Only someone still in a breakout room comes back with the round's end.
      if (!manages && here?.parent_id) {
        const why = event.reason === 'time_up' ? 'Time is up' : event.reason === 'rooms_deleted' ? 'The breakout rooms were deleted' : 'The moderator closed the breakout rooms';
        say(`${why}: you are back in the main room.`);
      }
      if (location.pathname.startsWith('/rooms/') && location.pathname !== `/rooms/${event.room}`) navigate(`/rooms/${event.room}`);
    } else if (event.type === 'breakout_closing' && !manages) {
      say({ closesAt: event.closes_at });
    } else if (event.type === 'broadcast') {
      setBanner(event);
    } else if (event.type === 'located' && event.person_id === me.id && store.noticeAbout === 'choose'
      && event.location && event.location !== event.stream) {
      say(null);
    }
  }) : undefined), [me]);

  if (me === undefined) return html`<p class="loading">Loading Huddle…</p>`;
  if (path.startsWith('/invite/')) {
    // The link in an invitation email: works signed in or not.
    const joined = async (room) => { await loadMe(); navigate(`/rooms/${room}`); };
    const signInFirst = () => { sessionStorage.setItem('huddle-next', path); navigate('/signin'); };
    return html`<${InvitePage} token=${path.slice('/invite/'.length)} me=${me} onJoined=${joined} onSignIn=${signInFirst} />`;
  }
  if (me === null) {
    const done = () => {
      const next = sessionStorage.getItem('huddle-next');
      sessionStorage.removeItem('huddle-next');
      navigate(next ?? '/');
      loadMe();
    };
    return setupNeeded ? html`<${SetupPage} onDone=${done} />` : html`<${SignInPage} onDone=${done} />`;
  }
  const signOut = async () => {
    await api('DELETE', '/session');
    store.live?.close();
    update({ live: null });
    setMe(null);
    navigate('/signin');
  };
  const roomId = path.startsWith('/rooms/') ? path.slice('/rooms/'.length) : null;
  return html`<div class="shell">
    <header>
      <a class="brand" href="/" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>Huddle</a>
      <span class=${`status ${status}`} role="status">${{ live: 'Connected', reconnecting: 'Reconnecting…', elsewhere: 'Open in too many tabs: reload to use this one' }[status] ?? 'Connecting…'}</span>
      ${me.is_admin && html`<a href="/accounts" onClick=${(e) => { e.preventDefault(); navigate('/accounts'); }}>Accounts</a>`}
      <span class="me">${me.display_name}</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    ${notice && html`<p class="notice" role="status">${notice.closesAt ? html`<${Closing} at=${notice.closesAt} />` : notice} <button type="button" class="link" onClick=${() => say(null)}>Dismiss</button></p>`}
    ${banner && html`<aside class="banner" role="alert" aria-label="Broadcast">
      <strong>${banner.from_name}:</strong> <span class="banner-text">${banner.text}</span>
      ${banner.cta && html`<a class="cta" href=${banner.cta.url} target="_blank" rel="noopener noreferrer">${banner.cta.label}</a>`}
      <button type="button" class="link" onClick=${() => setBanner(null)}>Close</button>
    </aside>`}
    ${path === '/accounts' && me.is_admin ? html`<${AccountsPage} />` : roomId ? html`<${RoomPage} key=${roomId} id=${roomId} me=${me} navigate=${navigate} />` : html`<${RoomsPage} navigate=${navigate} me=${me} />`}
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
