// @ts-check
// The breakout session of a main room as the room page needs it: the dashboard (loaded, and
// reloaded coalesced on the stream's breakout events), commands, the person's help request, and a
// participant's page following where the server says they are.

import { useState, useEffect, useRef } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { store, update, say } from '../lib/store.js';
import { titleWaiting } from '../lib/title.js';

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
        // An answer from before an event that moved the person (perhaps heard while this page was
        // being drawn, before it listened) would send the page back: asked for again.
        if (s.seq < (store.movedSeq[mainId] ?? 0)) {
          setTimeout(() => { if (n === loads.current) load(); }, 50);
          return;
        }
        update({ session: s });
        setSession(s);
        greet(s, me, mainId);
      })
      .catch((err) => { if (n === loads.current) setError(err); });
  };
  useEffect(() => {
    load();
    live.send({ type: 'dashboard', stream: mainId, open: true });
    const off = live.on((event) => {
      if (event.type === 'hello') live.send({ type: 'dashboard', stream: mainId, open: true });
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
    return () => { off(); clearTimeout(timer.current); live.send({ type: 'dashboard', stream: mainId, open: false }); };
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
