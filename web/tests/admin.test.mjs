// Administration in the browser: an administrator creates an account; a room's owner renames the
// room, adds a member by email with a role, changes the role, removes them (who sees the room
// vanish at once), pages back through older chat, and deletes the room.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, PASSWORD, signIn as signInAs, useHuddle, tab } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

function signIn(email, viewport) {
  return signInAs(browser, huddle.url, email, viewport);
}

test('accounts, members, roles, chat history and deletion through the UI', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const ada = await signIn('ada@example.org');
  ada.on('dialog', (dialog) => dialog.accept());

  // The administrator creates Bob's account.
  await ada.getByRole('link', { name: 'Accounts' }).click();
  const form = ada.getByRole('form', { name: 'New account' });
  await form.getByLabel('Name').fill('Bob');
  await form.getByLabel('Email').fill('bob@example.org');
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create account' }).click();
  await ada.getByText('Bob (bob@example.org)').waitFor();
  await form.getByLabel('Name').fill('Bob again');
  await form.getByLabel('Email').fill('BOB@example.org');
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create account' }).click();
  await form.getByRole('alert').filter({ hasText: 'exists' }).waitFor();

  // Every account is listed and searchable; Ada imports two from a file and sets Cy's password.
  const all = ada.getByRole('region', { name: 'All accounts' });
  await all.locator('tr[data-email="bob@example.org"]').waitFor();
  await ada.getByLabel(/Import accounts from a CSV file/).setInputFiles({
    name: 'people.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('email,display_name,password\r\ncy@example.org,"Cy, the third",a good password\r\ndee@example.org,Dee,\r\n'),
  });
  await ada.getByRole('status').filter({ hasText: 'Imported 2 accounts from people.csv.' }).waitFor();
  await all.locator('tr[data-email="dee@example.org"]').waitFor();
  // A staff list of 201 with passwords runs on the server as a job: the page follows it to the end.
  const staff = Array.from({ length: 201 }, (_, i) => `staff${i}@example.org,Staff ${i},${PASSWORD}`).join('\n');
  await ada.getByLabel(/Import accounts from a CSV file/).setInputFiles({
    name: 'staff.csv', mimeType: 'text/csv', buffer: Buffer.from(`email,display_name,password\n${staff}\n`),
  });
  await ada.getByRole('status').filter({ hasText: /Importing staff\.csv: \d+ of 201 passwords set/ }).waitFor();
  await ada.getByRole('status').filter({ hasText: 'Imported 201 accounts from staff.csv.' }).waitFor({ timeout: 60000 });
  assert.ok((await call(huddle.url, 'POST', '/session', { email: 'staff200@example.org', password: PASSWORD })).token);
  await all.getByLabel('Search accounts').fill('third');
  await all.locator('tbody tr').filter({ hasText: 'bob@example.org' }).waitFor({ state: 'detached' });
  assert.deepEqual(await all.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.email)), ['cy@example.org']);
  ada.removeAllListeners('dialog');
  ada.once('dialog', (d) => d.accept('another good password'));
  await all.getByRole('button', { name: 'Reset password for Cy, the third' }).click();
  await ada.getByRole('status').filter({ hasText: 'Password set for Cy, the third' }).waitFor();
  ada.on('dialog', (dialog) => dialog.accept());
  assert.ok((await call(huddle.url, 'POST', '/session', { email: 'cy@example.org', password: 'another good password' })).token);

  // A room: rename it, add Bob as a moderator, then make him a participant.
  await ada.getByRole('link', { name: 'Huddle' }).click();
  await ada.getByLabel('New room name').fill('Lab');
  await ada.getByRole('button', { name: 'Create room' }).click();
  await ada.getByRole('heading', { name: 'Lab', exact: true }).waitFor();
  await tab(ada, 'Manage');
  const manage = ada.getByRole('region', { name: 'Manage room' });
  await manage.getByLabel('Room name').fill('Lab 2');
  await manage.getByRole('button', { name: 'Rename' }).click();
  await ada.getByRole('heading', { name: 'Lab 2', exact: true }).waitFor();
  // Several addresses at once: Bob is added; the unknown one stays in the field, named beside it.
  await manage.getByLabel('Add members by email').fill('bob@example.org, nobody@example.org');
  await manage.getByLabel('Role of the new member').selectOption('moderator');
  await manage.getByRole('button', { name: 'Add members' }).click();
  const members = ada.getByRole('complementary', { name: 'Members' });
  await tab(ada, 'People');
  await members.getByText('Bob moderator').waitFor();
  await tab(ada, 'Manage');
  await manage.getByRole('status').filter({ hasText: 'Added 1 member.' }).waitFor();
  await manage.getByRole('alert').filter({ hasText: /^nobody@example\.org: / }).waitFor();
  assert.equal(await manage.getByLabel('Add members by email').inputValue(), 'nobody@example.org');
  await manage.getByLabel('Role of Bob').selectOption('participant');
  await tab(ada, 'People');
  await members.getByText('Bob participant').waitFor();
  await tab(ada, 'Chat');

  // Older chat comes page by page.
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const roomId = ada.url().split('/rooms/')[1];
  for (let i = 1; i <= 130; i += 1) await call(huddle.url, 'POST', `/rooms/${roomId}/messages`, { text: `note ${i}` }, token);
  await ada.reload();
  await ada.locator('.message .text', { hasText: 'note 130' }).waitFor();
  assert.equal(await ada.locator('.message .text', { hasText: /^note 1$/ }).count(), 0, 'only the latest page at first');
  // The button, pressed where it is: a click would scroll the list to its top first, which loads
  // the earlier page by itself and may take the button away under the pointer.
  await ada.getByRole('button', { name: 'Load earlier messages' }).dispatchEvent('click');
  await ada.locator('.message .text', { hasText: /^note 1$/ }).waitFor();
  await ada.getByRole('button', { name: 'Load earlier messages' }).waitFor({ state: 'detached' });
  // Scrolling to the top loads the earlier page too: after a reload, once more by scrolling.
  await ada.reload();
  await ada.locator('.message .text', { hasText: 'note 130' }).waitFor();
  assert.equal(await ada.locator('.message .text', { hasText: /^note 1$/ }).count(), 0, 'only the latest page again');
  await ada.locator('ol.messages').evaluate((list) => { list.scrollTop = 0; });
  await ada.locator('.message .text', { hasText: /^note 1$/ }).waitFor();

  // Bob sees the room, until Ada removes him.
  const bob = await signIn('bob@example.org');
  await bob.getByRole('link', { name: 'Lab 2' }).waitFor();
  await tab(ada, 'Manage');
  await ada.getByRole('region', { name: 'Manage room' }).getByRole('button', { name: 'Remove Bob' }).click();
  await bob.getByRole('link', { name: 'Lab 2' }).waitFor({ state: 'detached' });

  // Deleting the room (after confirming) leads back to the list, where it is gone.
  await ada.getByRole('region', { name: 'Manage room' }).getByRole('button', { name: 'Delete room' }).click();
  await ada.getByRole('heading', { name: 'My rooms' }).waitFor();
  await ada.getByText('No rooms yet.').waitFor();
});
