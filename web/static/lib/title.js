// @ts-check
// The tab's title: the room the page shows and, for moderators, how many help requests wait, in
// front ("(2) Workshop · Huddle"), so a moderator working in another tab sees someone is asking.


let room = null;

let waiting = 0;

function apply() {
  document.title = `${waiting > 0 ? `(${waiting}) ` : ''}${room ? `${room} · ` : ''}Huddle`;
}

/** The room the page shows (`null`: none). */
export function titleRoom(title) {
  room = title;
  apply();
}

/** How many help requests wait for this moderator (0 for everyone else). */
export function titleWaiting(count) {
  waiting = count;
  apply();
}
