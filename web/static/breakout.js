// @ts-check
// The breakout dashboard: one panel for moderators (settings, rooms, drag-and-drop assignment with a
// keyboard alternative, start/stop, broadcast, help queue) and, read-only with the few actions the
// settings allow, for participants. It reads `GET …/breakout` and reloads (coalesced) on the
// stream's breakout events; opening it subscribes the connection to the dashboard's rosters.

import { html, useState, useEffect, useLayoutEffect, useRef } from './vendor/preact-htm.js';
import { store, update, say } from './lib/store.js';
import { titleWaiting } from './title.js';
import { api } from './api.js';
import { RosterCsv, DocumentShelf, useMainDocuments } from './collab.js';
import { Planning } from './planning.js';
import { SessionReport } from './report.js';
import { ActivityEditor, TaskLine } from './activity.js';

/** The first dashboard a page sees: someone who arrives during a round is told where they are
 * going and why, or that they choose (free mode). Moderators are told nothing. */
function greet(session, me, mainId) {
  // Nothing to tell yet between rounds: the round's start will (or this, if its event came
  // before the page knew the settings).
  if (store.greeted || session.status === 'idle') return;
  update({ greeted: true });
  if (session.can_manage) return;
  const mine = session.people.find((p) => p.person_id === me.id);
  if (!mine) return;
  const room = session.rooms.find((r) => r.id === mine.location);
  if (room) {
    const why = mine.assignment === room.id ? 'you were assigned to it' : 'you chose it';
    say(`Breakout rooms are running: you are in ${room.name} (${why}).`);
  } else if (mine.location === mainId && session.settings.mode === 'free' && !mine.assignment) {
    say('Breakout rooms are running: choose a room in the Breakout rooms panel.', 'choose');
  }
}

const RELOAD_ON = new Set([
  'breakout_configured', 'breakout_rooms_created', 'breakout_rooms_deleted', 'assigned', 'assignments_reset',
  'breakout_started', 'breakout_closing', 'breakout_stopped', 'rooms_brought_back', 'located', 'connected',
  'disconnected', 'help_requested', 'help_answered', 'room_renamed', 'members_added', 'member_added',
  'member_removed', 'role_changed', 'resync', 'assignments_imported', 'schedule_changed', 'activity_set',
]);

function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function Countdown({ session }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (session.status === 'closing' && session.closes_at) {
    return html`<p class="countdown closing" role="timer">Rooms close in ${clock(session.closes_at - now)}</p>`;
  }
  if (session.status === 'running' && session.ends_at) {
    return html`<p class="countdown" role="timer">Time left ${clock(session.ends_at - now)}</p>`;
  }
  return null;
}

function Settings({ session, save }) {
  const initial = () => ({
    ...session.settings,
    minutes: session.settings.duration_secs ? String(session.settings.duration_secs / 60) : '',
  });
  const [form, setForm] = useState(initial);
  const [saved, setSaved] = useState(false);
  useEffect(() => setForm(initial()), [JSON.stringify(session.settings)]);
  const set = (key) => (e) => {
    setSaved(false);
    setForm({ ...form, [key]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  };
  const free = form.mode === 'free';
  const submit = async (e) => {
    e.preventDefault();
    const { minutes, ...settings } = form;
    const done = await save({
      ...settings,
      duration_secs: minutes === '' ? null : Math.round(Number(minutes) * 60),
      countdown_secs: Number(form.countdown_secs),
    });
    setSaved(!!done);
  };
  return html`<form class="settings" onSubmit=${submit} aria-label="Breakout settings">
    <label><input type="checkbox" checked=${form.enabled} onChange=${set('enabled')} /> Breakout rooms enabled</label>
    <label>Mode <select value=${form.mode} onChange=${set('mode')}>
      <option value="automatic">Automatic</option><option value="manual">Manual</option><option value="free">Participants choose</option>
    </select></label>
    <label><input type="checkbox" checked=${free || form.free_movement} disabled=${free} onChange=${set('free_movement')} />
      Participants may move between rooms${free ? html` <span class="hint">(always, when participants choose)</span>` : ''}</label>
    <label><input type="checkbox" checked=${form.return_to_main} onChange=${set('return_to_main')} /> Participants may return to the main room</label>
    <label><input type="checkbox" checked=${form.everyone_broadcasts} onChange=${set('everyone_broadcasts')} /> Everyone may broadcast</label>
    <label>Duration (minutes) <input type="number" min="0" step="any" value=${form.minutes} onInput=${set('minutes')} /></label>
    <label>Countdown (seconds) <input type="number" min="0" max="600" value=${form.countdown_secs} onInput=${set('countdown_secs')} /></label>
    <button type="submit">Save settings</button>
    ${saved && html`<span class="saved" role="status">Settings saved.</span>`}
  </form>`;
}

/** The person whose Move button gets the focus when their name is drawn again (after a move it
 * stands in another room's card: the keyboard user stays on the person they moved). */
let focusAfterMove = null;

/** How long a card must have stood still before a press on it starts a drag: a card that came
 * under the pointer just before the press is not the one the person aimed at. */
const SETTLE_MS = 300;

function Person({ person, rooms, manage, mine, assign, here, drag }) {
  const present = person.location === here;
  const card = useRef(null);
  // When the card came to where it stands (page coordinates), and whether the last press on it
  // came too soon after.
  const placed = useRef({ at: 0, top: NaN, left: NaN });
  const settle = useRef(0);
  const early = useRef(false);
  useLayoutEffect(() => {
    const el = card.current;
    const r = el?.getBoundingClientRect();
    if (!el || !r) return;
    const top = r.top + window.scrollY;
    const left = r.left + window.scrollX;
    if (top === placed.current.top && left === placed.current.left) return;
    placed.current = { at: performance.now(), top, left };
    // Said in the DOM, for whoever needs to wait for it (the browser tests).
    el.removeAttribute('data-settled');
    clearTimeout(settle.current);
    settle.current = setTimeout(() => el.setAttribute('data-settled', ''), SETTLE_MS);
  });
  useEffect(() => () => clearTimeout(settle.current), []);
  const onPointerDown = () => { early.current = performance.now() - placed.current.at < SETTLE_MS; };
  const onDragStart = (e) => {
    if (early.current) {
      e.preventDefault();
      drag.refused(person);
      return;
    }
    e.dataTransfer.setData('text/plain', person.person_id);
    drag.start();
  };
  const move = useRef(null);
  useEffect(() => {
    // Only once the name stands where it was moved to (not in the old card before the reload).
    if (focusAfterMove?.id === person.person_id && focusAfterMove.to === (person.assignment ?? null) && move.current) {
      focusAfterMove = null;
      move.current.focus();
    }
  });
  // Moderators drag anyone; a participant who may choose drags their own name. The keyboard way
  // is the Move menu, confirmed with Enter.
  return html`<li class=${`person ${person.location ? 'online' : 'offline'} ${present ? 'present' : ''}`} ref=${card}
      draggable=${manage || mine} onPointerDown=${onPointerDown} onDragStart=${onDragStart} onDragEnd=${drag.end}
      data-person=${person.display_name}>
    <span class="name">${person.display_name}</span>
    ${person.location && html`<span class="dot" title="connected"></span>`}
    ${manage && html`<${MoveMenu} button=${move} person=${person} rooms=${rooms}
      onMove=${(room) => { focusAfterMove = { id: person.person_id, to: room }; assign(person.person_id, room, person.display_name); }} />`}
  </li>`;
}

/**
 * "Move NAME": a menu of the places a person can be put (unassigned, or a room). Arrow keys,
 * Home and End move through it, Enter or Space confirms, Escape closes it without a change; the
 * focus goes back to the button.
 */
function MoveMenu({ button, person, rooms, onMove }) {
  const [open, setOpen] = useState(false);
  // A room brought back stays closed for the round: nobody can be put there until the next one.
  const items = [{ id: null, name: 'Unassigned' }, ...rooms.filter((r) => !r.closed || r.id === person.assignment).map((r) => ({ id: r.id, name: r.name }))];
  const current = Math.max(0, items.findIndex((i) => i.id === (person.assignment ?? null)));
  const [at, setAt] = useState(current);
  const list = useRef(null);
  useEffect(() => {
    if (open) list.current?.querySelectorAll('[role="menuitemradio"]')[at]?.focus();
  }, [open, at]);
  const close = () => { setOpen(false); button.current?.focus(); };
  const choose = (i) => {
    setOpen(false);
    if (items[i].id !== (person.assignment ?? null)) onMove(items[i].id);
    else button.current?.focus();
  };
  const onKey = (e) => {
    const last = items.length - 1;
    const next = { ArrowDown: at === last ? 0 : at + 1, ArrowUp: at === 0 ? last : at - 1, Home: 0, End: last }[e.key];
    if (next !== undefined) { e.preventDefault(); setAt(next); } else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(at); } else if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); close(); }
  };
  return html`<span class="move">
    <button type="button" class="link" ref=${button} aria-haspopup="menu" aria-expanded=${open ? 'true' : 'false'}
      aria-label=${`Move ${person.display_name}`} onClick=${() => { setAt(current); setOpen(!open); }}>Move</button>
    ${open && html`<ul class="menu" role="menu" aria-label=${`Move ${person.display_name} to`} ref=${list} onKeyDown=${onKey}>
      ${items.map((item, i) => html`<li key=${item.id ?? 'none'} role="menuitemradio" tabindex="-1"
          aria-checked=${i === current ? 'true' : 'false'} onClick=${() => choose(i)}>${item.name}</li>`)}
    </ul>`}
  </span>`;
}

function DropZone({ label, droppable, onDrop, children, className }) {
  const [over, setOver] = useState(false);
  const handlers = droppable ? {
    onDragOver: (e) => { e.preventDefault(); setOver(true); },
    onDragLeave: () => setOver(false),
    onDrop: (e) => { e.preventDefault(); setOver(false); onDrop(e.dataTransfer.getData('text/plain')); },
  } : {};
  return html`<section class=${`${className} ${over ? 'over' : ''}`} aria-label=${label} ...${handlers}>${children}</section>`;
}

/**
 * The breakout session of a main room as the room page needs it: the dashboard (loaded, and
 * reloaded coalesced on the stream's breakout events), commands, the person's help request, and a
 * participant's page following where the server says they are. The top bar, the dashboard tab and
 * the help pop-up all read it.
 */
export function useBreakout({ mainId, here, me, live, navigate }) {
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  const [help, setHelp] = useState(null);
  const [later, setLater] = useState(() => new Set()); // help requests a moderator put off
  const timer = useRef(null);

  // Answers can arrive out of order (a slow one overtaken by a newer one): only the answer to
  // the latest request is shown, or a stale one could send the page to a room its person left.
  const loads = useRef(0);
  const load = () => {
    const n = ++loads.current;
    return api('GET', `/rooms/${mainId}/breakout`)
      .then((s) => {
        if (n !== loads.current) return;
        update({ session: s });
        setSession(s);
        greet(s, me, mainId);
      })
      .catch((err) => { if (n === loads.current) setError(err); });
  };
  useEffect(() => {
    load();
    live.send({ type: 'dashboard', room: mainId, open: true });
    const off = live.on((event) => {
      if (event.type === 'hello') live.send({ type: 'dashboard', room: mainId, open: true });
      if (event.stream !== mainId || !RELOAD_ON.has(event.type)) return;
      // Whether a round runs is known from its events at once, before the dashboard reloads (a
      // move that comes meanwhile must be read as one).
      const known = store.session;
      if (known && event.type === 'breakout_started') update({ session: { ...known, status: 'running' } });
      if (known && event.type === 'breakout_stopped') update({ session: { ...known, status: 'idle' } });
      if (event.type === 'help_answered' && event.person_id === me.id) setHelp(event.accepted ? 'accepted' : 'dismissed');
      // An answer asked for before the person moved (or a round began or ended) would send the
      // page back where they were: it is dropped, and the reload below asks again.
      if (event.person_id === me.id || event.type === 'breakout_started' || event.type === 'breakout_stopped') loads.current += 1;
      clearTimeout(timer.current);
      timer.current = setTimeout(load, 50); // many events in a burst: one reload
    });
    return () => { off(); clearTimeout(timer.current); live.send({ type: 'dashboard', room: mainId, open: false }); };
  }, [mainId]);

  const run = async (method, path, body) => {
    try {
      setError(null);
      return await api(method, `/rooms/${mainId}/breakout${path}`, body);
    } catch (err) {
      setError(err);
      return null;
    }
  };
  useEffect(() => {
    // A participant's page follows where the server says they are (a move, a reconnect mid-round).
    const mine = session?.people.find((p) => p.person_id === me.id);
    if (session && !session.can_manage && mine?.location && mine.location !== here) navigate(`/rooms/${mine.location}`);
  }, [session]);

  // An accepted request: "on the way" until a moderator is in the person's room, "here" while one
  // is, and nothing once they have gone again.
  useEffect(() => {
    const mine = session?.people.find((p) => p.person_id === me.id);
    const present = !!mine?.location && mine.location !== mainId && session.people.some((p) => p.person_id !== me.id
      && (p.role === 'owner' || p.role === 'moderator') && p.location === mine.location);
    if (help === 'accepted' && present) setHelp('arrived');
    if (help === 'arrived' && !present) setHelp(null);
  }, [session, help]);

  // Others' changes of place, said in the page's live region (a moderator hears everyone's; a
  // participant hears who came into or left their own room). A move this page just made was said
  // already, by the move itself.
  const [said, setSaid] = useState('');
  const before = useRef(null);
  const movedHere = useRef(new Map()); // person id -> when this page moved them
  useEffect(() => {
    const was = before.current;
    before.current = session;
    if (!was || !session || was.status === 'idle' && session.status === 'idle') return;
    const lines = changesOfPlace(was, session, { me: me.id, mainId, here, all: session.can_manage })
      .filter(([id]) => {
        const at = movedHere.current.get(id);
        movedHere.current.delete(id);
        return !(at && Date.now() - at < 5000);
      })
      .map(([, line]) => line);
    if (lines.length > 3) setSaid(`${lines.length} people changed rooms.`);
    else if (lines.length) setSaid(lines.join(' '));
  }, [session]);
  const sayMove = (personId, line) => { movedHere.current.set(personId, Date.now()); setSaid(line); };

  // Moderators: the tab's title counts the help requests waiting.
  const waitingHelp = session?.can_manage ? session.help.length : 0;
  useEffect(() => { titleWaiting(waitingHelp); }, [waitingHelp]);
  useEffect(() => () => titleWaiting(0), []);
  return { session, error, setError, load, run, help, setHelp, later, setLater, waitingHelp, said, sayMove };
}

/**
 * Who changed place between two dashboards, as [person id, sentence] pairs: moderators (`all`)
 * hear every connected person's room change, a participant only who came into or left `here`.
 */
function changesOfPlace(was, now, { me, mainId, here, all }) {
  const name = (id) => (id === mainId ? 'the main room' : now.rooms.find((r) => r.id === id)?.name ?? was.rooms.find((r) => r.id === id)?.name);
  const lines = [];
  for (const p of now.people) {
    const old = was.people.find((q) => q.person_id === p.person_id)?.location ?? null;
    if (p.person_id === me || !p.location || !old || old === p.location) continue;
    if (all) lines.push([p.person_id, p.location === mainId ? `${p.display_name} is back in the main room.` : `${p.display_name} went to ${name(p.location)}.`]);
    else if (p.location === here) lines.push([p.person_id, `${p.display_name} joined this room.`]);
    else if (old === here) lines.push([p.person_id, `${p.display_name} left this room.`]);
  }
  return lines;
}

/**
 * The room's top bar beside its title: the round's time left, and for a participant in a breakout
 * room during a round, asking for help (with its state) and returning to the main room.
 */
export function RoundBar({ b, mainId, me }) {
  const { session, run, help, setHelp } = b;
  if (!session) return null;
  const mine = session.people.find((p) => p.person_id === me.id);
  const inBreakout = mine?.location && mine.location !== mainId;
  const live_ = session.status !== 'idle';
  const helping = !session.can_manage && inBreakout && live_;
  return html`<div class="round-bar">
    <${Countdown} session=${session} />
    ${helping && session.may.leave === null && html`<button type="button" onClick=${() => run('POST', '/leave')}>Return to the main room</button>`}
    ${helping && html`<button type="button" onClick=${async () => { if (await run('POST', '/help')) setHelp('requested'); }}
      disabled=${session.may.help !== null} title=${session.may.help ?? undefined}>Ask for help</button>`}
    ${helping && help && html`<span class="help-state" role="status">${help === 'requested' ? 'Help requested — a moderator will come.' : help === 'accepted' ? 'A moderator is on the way.' : help === 'arrived' ? 'A moderator is here.' : 'Your help request was dismissed.'}</span>`}
  </div>`;
}

/** For moderators on any page of the main room: the oldest help request not put off, as a pop-up. */
export function HelpRequests({ b, navigate }) {
  const { session, run, later, setLater } = b;
  if (!session?.can_manage) return null;
  return html`<${HelpPopup} request=${session.help.find((h) => !later.has(h.id))} rooms=${session.rooms}
    onJoin=${async (h) => { if (await run('PATCH', `/help/${h.id}`, { action: 'accept' })) navigate(`/rooms/${h.breakout}`); }}
    onLater=${(h) => setLater(new Set([...later, h.id]))} />`;
}

export function BreakoutPanel({ b, mainId, here, me, live, navigate }) {
  const { error, setError, load, run, sayMove } = b;
  // While a card is dragged the dashboard stands still (updates show when it is dropped), so that
  // neither the card nor the room it is dropped on moves under the pointer.
  const [held, setHeld] = useState(null);
  const session = held ?? b.session;
  const drag = {
    start: () => setHeld(b.session),
    end: () => setHeld(null),
    refused: (person) => setError(new Error(`${person.display_name} moved just as you picked them up: nobody was moved. Drag again.`)),
  };
  const [count, setCount] = useState('2');
  const [text, setText] = useState('');
  const [names, setNames] = useState('');
  // Participants may put the read-only dashboard away (seed 002); it stays away for the visit.
  const [hidden, setHidden] = useState(() => sessionStorage.getItem('huddle-dashboard-hidden') === '1');
  const hide = (on) => { sessionStorage.setItem('huddle-dashboard-hidden', on ? '1' : '0'); setHidden(on); };
  const [ctaLabel, setCtaLabel] = useState('');
  const [ctaUrl, setCtaUrl] = useState('');
  const [docs, shareDoc] = useMainDocuments(mainId, live, session?.can_manage === true);

  if (!session) return error ? html`<p class="error" role="alert">${error.message}</p>` : null;
  const manage = session.can_manage;
  if (!manage && !session.settings.enabled && session.rooms.length === 0) return null;
  const live_ = session.status !== 'idle';
  const people = session.people.filter((p) => p.role !== 'owner' && p.role !== 'moderator' || p.assignment);
  const assign = async (personId, room, name) => {
    const done = await (room
      ? run('PUT', `/assignments/${personId}`, { breakout: room })
      : run('DELETE', `/assignments/${personId}`));
    const who = name ?? session.people.find((p) => p.person_id === personId)?.display_name;
    if (done && who) {
      const where = room ? session.rooms.find((r) => r.id === room)?.name : null;
      sayMove(personId, where ? `${who} is now in ${where}.` : `${who} is now unassigned.`);
    }
    return done;
  };
  const mine = session.people.find((p) => p.person_id === me.id);
  const s = session.settings;
  // What the person may do comes with the dashboard, each with the reason it may not be done.
  const may = session.may;
  const choosable = (room) => !manage && room.may_join === null;
  const mayChoose = session.rooms.some(choosable);
  // Back to one's own room during a round, after a visit to the main room.
  const rejoins = (room) => live_ && mine?.assignment === room.id && mine.location === mainId;

  return html`<section class="breakout" aria-label="Breakout rooms">
    <h2>Breakout rooms <span class="state">${session.status === 'idle' ? '' : session.status === 'running' ? '· running' : '· closing'}</span></h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    ${manage && html`<details class="settings-box"><summary>Settings</summary>
      <${Settings} session=${session} save=${(settings) => run('PUT', '', settings)} /></details>`}
    ${manage && html`<div class="toolbar">
      <label>Number of rooms <input type="number" min="1" max="300" value=${count} onInput=${(e) => setCount(e.target.value)} /></label>
      <button type="button" onClick=${() => run('POST', '/rooms', { count: Number(count) })}>Create rooms</button>
      <details class="named-rooms"><summary>Create rooms with names</summary>
        <label for="room-names">Room names, one per line</label>
        <textarea id="room-names" rows="4" value=${names} onInput=${(e) => setNames(e.target.value)}></textarea>
        <button type="button" onClick=${async () => {
          const list = names.split('\n').map((n) => n.trim()).filter(Boolean);
          if (list.length && await run('POST', '/rooms', { names: list })) setNames('');
        }}>Create named rooms</button>
      </details>
      <button type="button" onClick=${() => confirm(resetQuestion(session.people.filter((p) => p.assignment).length)) && run('POST', '/reset')}
        disabled=${may.reset !== null} aria-describedby=${may.reset !== null ? 'reset-why' : undefined}>Reset assignments</button>
      ${may.reset !== null && html`<span class="hint" id="reset-why">Reset: ${may.reset}.</span>`}
      <button type="button" onClick=${() => confirm(`Delete all ${session.rooms.length} breakout rooms? Their chats, files and meetings are deleted for everyone, and every assignment is cleared.`) && run('DELETE', '/rooms')}>Delete all rooms</button>
      ${live_
        ? html`<button type="button" class="stop" onClick=${() => run('POST', '/stop')}>Stop breakout rooms</button>`
        : !s.enabled
          ? html`<span class="hint">Breakout rooms are off for this room.</span>
            <button type="button" class="start" onClick=${() => run('PUT', '', { ...s, enabled: true })}>Turn on breakout rooms</button>`
          : html`<button type="button" class="start" onClick=${() => run('POST', '/start')} disabled=${may.start !== null}
              aria-describedby=${may.start !== null ? 'start-why' : undefined}>Start breakout rooms</button>
            ${may.start !== null && html`<span class="hint" id="start-why">Start: ${may.start}.</span>`}`}
    </div>`}
    ${manage && html`<${RosterCsv} mainId=${mainId} why=${may.import} onImported=${load} />`}
    ${manage && html`<${Planning} mainId=${mainId} session=${session} onChanged=${load} onError=${setError} />`}
    ${manage && html`<${ActivityEditor} mainId=${mainId} session=${session} docs=${docs} onChanged=${load} onError=${setError} />`}
    ${html`<${SessionReport} mainId=${mainId} own=${!manage} onError=${setError} />`}
    ${manage && html`<${DocumentShelf} items=${docs} share=${shareDoc} onError=${setError} />`}
    ${!manage && html`<button type="button" class="link" aria-expanded=${!hidden} onClick=${() => hide(!hidden)}>${hidden ? 'Show the breakout rooms' : 'Hide the breakout rooms'}</button>`}
    ${!(hidden && !manage) && html`<div class="grid">
      ${live_ && html`<section class="room main-room" aria-label="Main room">
        <h3>Main room <span class="count">${session.people.filter((p) => p.location === mainId).length} here</span></h3>
        <ul>${session.people.filter((p) => p.location === mainId).map((p) => html`<li key=${p.person_id} class="person present" data-person=${p.display_name}><span class="name">${p.display_name}</span></li>`)}</ul>
      </section>`}
      <${DropZone} className="room unassigned" label="Unassigned" droppable=${manage} onDrop=${(id) => assign(id, null)}>
        <h3>Unassigned</h3>
        <ul>${people.filter((p) => !p.assignment && p.role === 'participant').map((p) => html`<${Person} key=${p.person_id} person=${p} rooms=${session.rooms} manage=${manage} mine=${mayChoose && p.person_id === me.id} assign=${assign} here=${mainId} drag=${drag} />`)}</ul>
      </${DropZone}>
      ${session.rooms.map((room) => html`<${DropZone} key=${room.id} className=${`room ${room.id === here ? 'current' : ''} ${room.closed ? 'closed' : ''}`}
          label=${room.name} droppable=${manage || choosable(room)}
          onDrop=${(id) => {
            const doc = id.startsWith('doc:') && docs.find((d) => d.id === id.slice(4));
            if (doc) return doc.shared_with.includes(room.id) || shareDoc(doc.id, [...doc.shared_with, room.id]).catch(setError);
            return manage ? assign(id, room.id) : id === me.id && run('POST', '/join', { breakout: room.id });
          }}>
        <h3>${room.name} <span class="count">${room.present.length} here</span>
          ${room.closed && html`<span class="closed-label">closed</span>`}
          ${manage && session.help.some((h) => h.breakout === room.id) && html`<span class="badge help-mark" role="img" aria-label="asks for help">help</span>`}</h3>
        <ul>${session.people.filter((p) => p.assignment === room.id || p.location === room.id).map((p) => html`<${Person} key=${p.person_id} person=${p} rooms=${session.rooms} manage=${manage} mine=${mayChoose && p.person_id === me.id} assign=${assign} here=${room.id} drag=${drag} />`)}</ul>
        ${manage && html`<${TaskLine} room=${room} />`}
        ${manage && docs.some((d) => d.shared_with.includes(room.id)) && html`<ul class="room-docs" aria-label=${`Documents shared with ${room.name}`}>
          ${docs.filter((d) => d.shared_with.includes(room.id)).map((d) => html`<li key=${d.id}>${d.title}
            <button type="button" class="link" title="Stop sharing" aria-label=${`Stop sharing ${d.title} with ${room.name}`}
              onClick=${() => shareDoc(d.id, d.shared_with.filter((r) => r !== room.id)).catch(setError)}>×</button></li>`)}
        </ul>`}
        <div class="room-actions">
          ${(manage || choosable(room)) && room.id !== here && html`<button type="button" onClick=${async () => { if (await run('POST', '/join', { breakout: room.id }) && manage) navigate(`/rooms/${room.id}`); }}>${manage ? 'Join' : rejoins(room) ? 'Rejoin' : 'Choose'} ${room.name}</button>`}
          ${manage && room.id === here && html`<button type="button" onClick=${async () => { if (await run('POST', '/leave')) navigate(`/rooms/${mainId}`); }}>Leave ${room.name}</button>`}
          ${manage && live_ && !room.closed && html`<button type="button" onClick=${() => run('POST', '/stop', { rooms: [room.id] })}>Bring back ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => { const name = prompt('New name', room.name); if (name) api('PATCH', `/rooms/${mainId}/breakout/rooms/${room.id}`, { name }).catch(setError); }}>Rename ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => { const text = prompt(`Message to ${room.name}`); if (text) run('POST', '/broadcast', { text, breakout: room.id }); }}>Message ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => confirm(`Delete ${room.name}? Its chat, files and meetings are deleted for everyone${room.assigned.length ? `, and its ${room.assigned.length} assigned ${room.assigned.length === 1 ? 'person becomes' : 'people become'} unassigned` : ''}${room.present.length ? `; whoever is in it now goes back to the main room` : ''}.`) && run('DELETE', `/rooms/${room.id}`)}>Delete ${room.name}</button>`}
        </div>
      </${DropZone}>`)}
    </div>`}
    ${manage && live_ && html`<form class="broadcast-form" onSubmit=${async (e) => {
        e.preventDefault();
        const cta = ctaLabel && ctaUrl ? { label: ctaLabel, url: ctaUrl } : undefined;
        if (await run('POST', '/broadcast', { text, cta })) { setText(''); setCtaLabel(''); setCtaUrl(''); }
      }} aria-label="Broadcast">
      <label for="broadcast-text">Broadcast to all rooms</label>
      <textarea id="broadcast-text" rows="2" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <label>Button label <input value=${ctaLabel} onInput=${(e) => setCtaLabel(e.target.value)} /></label>
      <label>Button link <input type="url" value=${ctaUrl} onInput=${(e) => setCtaUrl(e.target.value)} /></label>
      <button type="submit">Broadcast</button>
    </form>`}
    ${manage && session.help.length > 0 && html`<section class="help-queue" aria-label="Help requests">
      <h3>Help requests</h3>
      <ul>${session.help.map((h) => {
        const room = session.rooms.find((r) => r.id === h.breakout);
        return html`<li key=${h.id}>${h.display_name} in ${room?.name ?? 'a room'}
          <button type="button" onClick=${async () => { if (await run('PATCH', `/help/${h.id}`, { action: 'accept' })) navigate(`/rooms/${h.breakout}`); }}>Accept</button>
          <button type="button" onClick=${() => run('PATCH', `/help/${h.id}`, { action: 'dismiss' })}>Dismiss</button></li>`;
      })}</ul>
    </section>`}
  </section>`;
}

/**
 * A help request, for moderators, as a pop-up: who asks, from which room, and two answers — join
 * that room now, or later (the request stays in the queue and the room card keeps its mark).
 * Focus goes to "Join room", and Escape means later.
 */
function HelpPopup({ request, rooms, onJoin, onLater }) {
  const join = useRef(null);
  useEffect(() => { join.current?.focus(); }, [request?.id]);
  if (!request) return null;
  const room = rooms.find((r) => r.id === request.breakout);
  return html`<div class="help-popup" role="alertdialog" aria-modal="false" aria-labelledby="help-popup-text"
      onKeyDown=${(e) => { if (e.key === 'Escape') onLater(request); }}>
    <p id="help-popup-text"><strong>${request.display_name}</strong> asks for help in <strong>${room?.name ?? 'a breakout room'}</strong>.</p>
    <button type="button" ref=${join} onClick=${() => onJoin(request)}>Join room</button>
    <button type="button" onClick=${() => onLater(request)}>Later</button>
  </div>`;
}

/** What resetting the assignments loses, said before it happens. */
function resetQuestion(assigned) {
  const who = assigned === 1 ? 'The 1 assigned person becomes' : `All ${assigned} assigned people become`;
  return `Reset assignments? ${who} unassigned; the rooms stay.`;
}
