// @ts-check
// The room's top bar beside its title (the round's time left, help, return) and, for moderators,
// the pop-up of the oldest help request.

import { html, useState, useEffect, useRef } from '../vendor/preact-htm.js';

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

/** What the top bar says of the person's help request. */
const HELP_STATE = {
  requested: 'Help requested — a moderator will come.',
  accepted: 'A moderator is on the way.',
  arrived: 'A moderator is here.',
  dismissed: 'Your help request was dismissed.',
};

/**
 * The room's top bar beside its title: the round's time left, and for a participant in a breakout
 * room during a round, asking for help (with its state) and returning to the main room.
 */
export function RoundBar({ b, mainId, me }) {
  const { session, run, help, setHelp } = b;
  if (!session) return null;
  const mine = session.people.find((p) => p.person_id === me.id);
  const inBreakout = mine?.location && mine.location !== mainId;
  const running = session.status !== 'idle';
  const helping = !session.can_manage && inBreakout && running;
  return html`<div class="round-bar">
    <${Countdown} session=${session} />
    ${helping && session.may.leave === null && html`<button type="button" onClick=${() => run('POST', '/leave')}>Return to the main room</button>`}
    ${helping && html`<button type="button" onClick=${async () => { if (await run('POST', '/help')) setHelp('requested'); }}
      disabled=${session.may.help !== null} title=${session.may.help ?? undefined}>Ask for help</button>`}
    ${helping && help && html`<span class="help-state" role="status">${HELP_STATE[help]}</span>`}
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
