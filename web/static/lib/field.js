// @ts-check
// A labelled form field with its error, as every form of the app draws it.

import { html } from '../vendor/preact-htm.js';

export function Field({ label, type = 'text', value, onInput, error, autocomplete }) {
  const id = `f-${label.toLowerCase().replace(/\W+/g, '-')}`;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type=${type} value=${value} autocomplete=${autocomplete}
      onInput=${(e) => onInput(e.target.value)} aria-invalid=${error ? 'true' : 'false'} />
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}
