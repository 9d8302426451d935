// @ts-check
// A person's card on the dashboard: dragged to a room (or refused when it just moved under the
// pointer), or moved with the keyboard through its Move menu; and the rooms cards are dropped on.

import { html, useState, useEffect, useRef, useLayoutEffect } from '../vendor/preact-htm.js';

/** The person whose Move button gets the focus when their name is drawn again (after a move it
 * stands in another room's card: the keyboard user stays on the person they moved). */
let focusAfterMove = null;

/** How long a card must have stood still before a press on it starts a drag: a card that came
 * under the pointer just before the press is not the one the person aimed at. */
const SETTLE_MS = 300;

export function Person({ person, rooms, manage, mine, assign, here, drag }) {
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
    if (next !== undefined) {
      e.preventDefault();
      setAt(next);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      choose(at);
    } else if (e.key === 'Escape' || e.key === 'Tab') {
      e.preventDefault();
      close();
    }
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

export function DropZone({ label, droppable, onDrop, children, className }) {
  const [over, setOver] = useState(false);
  const handlers = droppable ? {
    onDragOver: (e) => { e.preventDefault(); setOver(true); },
    onDragLeave: () => setOver(false),
    onDrop: (e) => { e.preventDefault(); setOver(false); onDrop(e.dataTransfer.getData('text/plain')); },
  } : {};
  return html`<section class=${`${className} ${over ? 'over' : ''}`} aria-label=${label} ...${handlers}>${children}</section>`;
}
