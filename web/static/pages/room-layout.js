// @ts-check
// A room page laid out around its call: the top bar, the stage, and the side panel's tabs.

import { html, useState } from '../vendor/preact-htm.js';
import { RoomTask } from '../breakout/activity.js';
import { BreakoutPanel } from '../breakout/panel.js';
import { RoundBar, HelpRequests } from '../breakout/roundbar.js';
import { useBreakout } from '../breakout/session.js';
import { CallPanel } from '../call/panel.js';
import { CallQuality } from '../call/quality.js';
import { store, roomName } from '../lib/store.js';
import { ContentPanel } from '../room/content.js';
import { InvitePanel } from '../room/invitations.js';
import { RoomAdmin } from '../room/manage.js';
import { MeetingsPanel } from '../room/meetings.js';
import { RecordingBar } from '../room/recording.js';

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
export function RoomLayout({ room, me, navigate, chat, people, members, reload }) {
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
