// Content, invitations, CSV pre-assignment and meetings in real browsers: a moderator uploads by
// drag and drop and with the file picker, adds a link, shares a document with a breakout room,
// imports a CSV with errors (every one listed) and then a valid one that invites a guest; the guest
// follows the emailed link, joins with a name, sees only their room, adds a file and promotes it;
// the moderator sees it in the main room; the guest schedules a meeting and downloads its .ics; the
// moderator invites and revokes someone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { call, PASSWORD, signIn as signInAs, watchForeignRequests, useHuddle, tab, emailedLink } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('content, CSV pre-assignment, a guest by invitation, promote and meetings', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', '/accounts', { email: 'pia@example.org', password: PASSWORD, display_name: 'Pia Park' }, token);
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Workshop' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/rooms`, { names: ['Room 1'] }, token);

  const ada = await signInAs(browser, huddle.url, 'ada@example.org');
  const foreign = watchForeignRequests(ada, huddle.url);
  await ada.getByRole('link', { name: 'Workshop' }).click();
  await tab(ada, 'Content');
  const content = ada.getByRole('region', { name: 'Content' });
  await content.getByText('Nothing here yet.').waitFor();

  // Drag and drop a file onto the drop zone, and pick another with the file picker.
  const dropped = await ada.evaluateHandle(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['agenda for today'], 'agenda.txt', { type: 'text/plain' }));
    return transfer;
  });
  await content.getByLabel('Upload files').dispatchEvent('drop', { dataTransfer: dropped });
  await content.getByRole('link', { name: 'agenda.txt' }).waitFor();
  await content.getByLabel('Choose files to upload').setInputFiles({ name: 'slides <b>.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 slides') });
  await content.getByRole('link', { name: 'slides <b>.pdf' }).waitFor();
  const download = await ada.request.get(`${huddle.url}${await content.getByRole('link', { name: 'agenda.txt' }).getAttribute('href')}`);
  assert.equal(await download.text(), 'agenda for today');

  // A link, then share the agenda with Room 1.
  const linkForm = ada.getByRole('form', { name: 'Add a link' });
  await linkForm.getByLabel('Title').fill('Reading list');
  await linkForm.getByLabel('Address').fill('https://example.org/reading');
  await linkForm.getByRole('button', { name: 'Add link' }).click();
  await content.getByRole('link', { name: 'Reading list' }).waitFor();
  await content.getByRole('button', { name: 'Share agenda.txt' }).click();
  const share = content.getByRole('group', { name: 'Share agenda.txt' });
  await share.getByLabel('Room 1').check();
  await share.getByRole('button', { name: 'Save sharing' }).click();
  await content.getByText('shared with 1 room').waitFor();

  // A CSV with problems on several rows: every one is listed, nothing changes.
  await tab(ada, 'Breakout rooms');
  const dashboard = ada.getByRole('region', { name: 'Breakout rooms' });
  const csvInput = dashboard.getByLabel('Import a CSV file of assignments');
  await csvInput.setInputFiles({
    name: 'groups.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('room_name,first_name,last_name,email\nGroup A,Pia,Park,pia@example.org\nGroup A,Bad,,not-an-address\nGroup B,Short\n'),
  });
  const errors = dashboard.locator('table.csv-errors tbody tr');
  await errors.first().waitFor();
  assert.deepEqual(await errors.locator('td:first-child').allTextContents(), ['3', '4']);
  assert.equal(await dashboard.getByRole('region', { name: 'Group A' }).count(), 0);

  // A valid file: Group A is created, Pia is added and assigned, Gus (no account) is invited.
  await csvInput.setInputFiles({
    name: 'groups.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('\ufeffroom_name,first_name,last_name,email\nGroup A,Pia,Park,pia@example.org\nGroup A,Gus,,gus@elsewhere.org\n'),
  });
  await dashboard.getByText('Imported 2 rows: 1 room created, 1 assigned, 1 added to the room, 1 invited by email.').waitFor();
  const groupA = dashboard.getByRole('region', { name: 'Group A' });
  await groupA.getByText('Pia Park').waitFor();
  const exported = await ada.request.get(`${huddle.url}${await dashboard.getByRole('link', { name: 'Export assignments (CSV)' }).getAttribute('href')}`);
  assert.equal(await exported.text(), 'room_name,first_name,last_name,email\nGroup A,,,gus@elsewhere.org\nGroup A,Pia,Park,pia@example.org\n');

  // The dashboard shares documents too (seed 002): drag one onto a room, or share one with all.
  const shelf = dashboard.getByRole('region', { name: 'Shared documents' });
  await shelf.locator('[data-doc="slides <b>.pdf"]').dragTo(groupA);
  await groupA.getByRole('list', { name: 'Documents shared with Group A' }).getByText('slides <b>.pdf').waitFor();
  await shelf.getByRole('button', { name: 'Share Reading list with all rooms' }).click();
  await tab(ada, 'Content');
  await content.getByText('shared with 2 rooms').waitFor();
  await tab(ada, 'Breakout rooms');
  await dashboard.getByRole('region', { name: 'Room 1' }).getByRole('button', { name: 'Stop sharing Reading list with Room 1' }).click();
  await tab(ada, 'Content');
  await content.getByText('shared with 1 room').nth(1).waitFor();

  // Gus follows the emailed link, not signed in, and joins as a guest.
  const link = await emailedLink(huddle, 'gus@elsewhere.org');
  const guestContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const gus = await guestContext.newPage();
  await gus.goto(`${huddle.url}${link}`);
  await gus.getByRole('heading', { name: 'Join Workshop : Group A' }).waitFor();
  await gus.getByLabel('Your name').fill('Gus');
  await gus.getByRole('button', { name: 'Join as a guest' }).click();
  await gus.getByRole('heading', { name: 'Workshop : Group A', exact: true }).waitFor();
  assert.equal(await gus.getByRole('link', { name: 'Workshop : Group A' }).count(), 0, 'no way into the main room');
  // Only that room: the main room is not found; what was shared with Group A is here, the agenda
  // shared with Room 1 is not.
  await tab(gus, 'Content');
  const gusContent = gus.getByRole('region', { name: 'Content' });
  await gusContent.getByRole('link', { name: 'slides <b>.pdf' }).waitFor();
  await gusContent.getByRole('link', { name: 'Reading list' }).waitFor();
  assert.equal(await gusContent.getByRole('link', { name: 'agenda.txt' }).count(), 0);
  assert.equal(await gusContent.getByText('shared from the main room').count(), 2);
  await gus.goto(`${huddle.url}/rooms/${room.id}`);
  await gus.getByRole('heading', { name: 'Room not found' }).waitFor();
  await gus.goBack();
  await gus.getByRole('heading', { name: 'Workshop : Group A' }).waitFor();

  // Gus adds a file and promotes it; Ada sees it in the main room, marked.
  await gusContent.getByLabel('Choose files to upload').setInputFiles({ name: 'findings.txt', mimeType: 'text/plain', buffer: Buffer.from('we found it') });
  await gusContent.getByRole('button', { name: 'Promote findings.txt' }).click();
  await gusContent.getByText('in the main room').waitFor();
  await content.getByText('promoted from Group A by Gus').waitFor();
  await content.getByRole('link', { name: 'findings.txt' }).waitFor();

  // Gus schedules a meeting in this room and downloads its .ics.
  await tab(gus, 'Meetings');
  const meetings = gus.getByRole('region', { name: 'Meetings' });
  await meetings.getByLabel('Meeting title').fill('Wrap-up');
  // A week from now, in the browser's local time as a datetime-local field takes it.
  const start = new Date(Date.now() + 7 * 86400e3);
  const local = new Date(start.getTime() - start.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  await meetings.getByLabel('Starts').fill(local);
  await meetings.getByLabel('Duration (minutes)').fill('45');
  await meetings.getByRole('button', { name: 'Schedule meeting' }).click();
  const ics = meetings.getByRole('link', { name: 'Add Wrap-up to my calendar (.ics)' });
  await ics.waitFor();
  const calendar = await (await gus.request.get(`${huddle.url}${await ics.getAttribute('href')}`)).text();
  assert.match(calendar, /BEGIN:VCALENDAR/);
  assert.match(calendar, /SUMMARY:Wrap-up/);
  assert.match(calendar, /LOCATION:Workshop : Group A/);

  // Ada invites Zoe to the main room, sees the email sent, and revokes the invitation.
  await tab(ada, 'Manage');
  const invitations = ada.getByRole('region', { name: 'Invitations' });
  await invitations.getByLabel('Email addresses').fill('zoe@elsewhere.org');
  await invitations.getByRole('button', { name: 'Send invitations' }).click();
  const zoe = invitations.locator('tr[data-email="zoe@elsewhere.org"]');
  await zoe.locator('td.delivery', { hasText: 'sent' }).waitFor();
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await ada.screenshot({ path: `${SHOTS}/room-content.png`, fullPage: true });
    await gus.screenshot({ path: `${SHOTS}/guest-phone.png`, fullPage: true });
  }
  await invitations.getByRole('button', { name: 'Revoke zoe@elsewhere.org' }).click();
  await zoe.locator('td.state', { hasText: 'revoked' }).waitFor();
  const zoeLink = await emailedLink(huddle, 'zoe@elsewhere.org');
  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto(`${huddle.url}${zoeLink}`);
  await stranger.getByText('this invitation was withdrawn').waitFor();

  // Scheduling a meeting in the main room can turn its breakout rooms on (seed 001).
  await tab(ada, 'Meetings');
  const adaMeetings = ada.getByRole('region', { name: 'Meetings' });
  await adaMeetings.getByLabel('Meeting title').fill('Kick-off');
  await adaMeetings.getByLabel('Starts').fill(local);
  await adaMeetings.getByLabel("Enable breakout rooms for this meeting's room").check();
  await adaMeetings.getByRole('button', { name: 'Schedule meeting' }).click();
  await adaMeetings.getByRole('link', { name: 'Add Kick-off to my calendar (.ics)' }).waitFor();
  assert.equal((await call(huddle.url, 'GET', `/rooms/${room.id}/breakout`, undefined, token)).settings.enabled, true);

  // A round with Gus in Group A: he is never offered the main room, and when it ends he stays in
  // Group A with a notice that says so (not "Room not found"), asking the main room for nothing.
  const notFound = [];
  gus.on('response', (r) => { if (r.status() === 404) notFound.push(r.url()); });
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout`, { enabled: true, mode: 'manual', return_to_main: true }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/start`, undefined, token);
  await gus.getByRole('button', { name: 'Ask for help' }).waitFor();
  assert.equal(await gus.getByRole('button', { name: 'Return to the main room' }).count(), 0);
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/stop`, undefined, token);
  await gus.getByRole('status').filter({ hasText: 'The breakout round has ended: you stay in Group A.' }).waitFor();
  await gus.waitForTimeout(1000);
  await gus.getByRole('heading', { name: 'Workshop : Group A', exact: true }).waitFor();
  assert.deepEqual(notFound, [], 'no requests for what Gus may not see');

  // Deleting content asks first, saying who loses it; "no" keeps it.
  let asked = '';
  await tab(ada, 'Content');
  ada.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
  await content.getByRole('button', { name: 'Delete agenda.txt' }).click();
  assert.equal(asked, 'Delete agenda.txt? It is gone for everyone in this room and the 1 breakout room it is shared with.');
  await content.getByRole('link', { name: 'agenda.txt' }).waitFor();
  ada.once('dialog', (d) => d.accept());
  await content.getByRole('button', { name: 'Delete agenda.txt' }).click();
  await content.getByRole('link', { name: 'agenda.txt' }).waitFor({ state: 'detached' });

  assert.deepEqual(foreign, [], 'the page asked no other host for anything');
  await guestContext.close();
});

test('an account holder follows an invitation, signs in on the way, and joins', async () => {
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Studio' }, token);
  const [breakout] = (await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/rooms`, { names: ['Corner'] }, token)).rooms;
  await call(huddle.url, 'POST', `/rooms/${breakout.id}/invitations`, { emails: ['pia@example.org'] }, token);
  const link = await emailedLink(huddle, 'pia@example.org');

  const page = await (await browser.newContext()).newPage();
  await page.goto(`${huddle.url}${link}`);
  await page.getByRole('heading', { name: 'Join Studio : Corner' }).waitFor();
  await page.getByText('pia@example.org has an account here: sign in to join with it.').waitFor();
  await page.getByRole('button', { name: 'I have an account: sign in' }).click();
  await page.getByLabel('Email').fill('pia@example.org');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Back on the invitation, now as Pia.
  await page.getByRole('button', { name: 'Join as Pia Park' }).click();
  // Exact: the invitation page's own heading is "Join Studio : Corner".
  await page.getByRole('heading', { name: 'Studio : Corner', exact: true }).waitFor();
  // The same link does not work twice.
  await page.goto(`${huddle.url}${link}`);
  await page.getByText('this invitation link was already used').waitFor();
});
