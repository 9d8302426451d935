// @ts-check
// Huddle's web app: the shell around the pages. Who is signed in (or first-run setup, sign-in,
// an invitation link), the connection's state, the routes to the pages, the notice line that says
// where a round puts the person, and the broadcast banner. Plain ES modules, no build step.

import { html, render, useState, useEffect, useCallback } from './vendor/preact-htm.js';
import { AccountsPage } from './admin/accounts.js';
import { api } from './lib/api.js';
import { Live } from './lib/live.js';
import { store, update, useStore, say, roomName, roundLive, freeMode } from './lib/store.js';
import { InvitePage } from './pages/invite.js';
import { RoomsPage } from './pages/rooms.js';
import { SetupPage, SignInPage } from './pages/setup.js';
import { RoomPage } from './pages/room.js';

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

/** What the header says of the connection. */
const STATUS = { live: 'Connected', reconnecting: 'Reconnecting…', elsewhere: 'Open in too many tabs: reload to use this one' };

function App() {
  const me = useStore((s) => s.me);
  const setMe = (person) => update({ me: person });
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
    // This handler is always listening (pages come and go): it notes the last event that moved
    // the person, so that no page acts on a dashboard from before it.
    if (event.stream && typeof event.seq === 'number' && (event.type === 'breakout_started' || event.type === 'breakout_stopped'
      || (event.person_id === me.id && (event.type === 'located' || event.type === 'assigned')))) {
      update({ movedSeq: { ...store.movedSeq, [event.stream]: Math.max(event.seq, store.movedSeq[event.stream] ?? 0) } });
    }
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
      <span class=${`status ${status}`} role="status">${STATUS[status] ?? 'Connecting…'}</span>
      ${me.is_admin && html`<a href="/accounts" onClick=${(e) => { e.preventDefault(); navigate('/accounts'); }}>Accounts</a>`}
      <span class="me">${me.display_name}</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    ${notice && html`<p class="notice" role="status">${notice.closesAt ? html`<${Closing} at=${notice.closesAt} />` : notice}
      <button type="button" class="link" onClick=${() => say(null)}>Dismiss</button></p>`}
    ${banner && html`<aside class="banner" role="alert" aria-label="Broadcast">
      <strong>${banner.from_name}:</strong> <span class="banner-text">${banner.text}</span>
      ${banner.cta && html`<a class="cta" href=${banner.cta.url} target="_blank" rel="noopener noreferrer">${banner.cta.label}</a>`}
      <button type="button" class="link" onClick=${() => setBanner(null)}>Close</button>
    </aside>`}
    ${path === '/accounts' && me.is_admin ? html`<${AccountsPage} />`
      : roomId ? html`<${RoomPage} key=${roomId} id=${roomId} me=${me} navigate=${navigate} />`
      : html`<${RoomsPage} navigate=${navigate} me=${me} />`}
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
