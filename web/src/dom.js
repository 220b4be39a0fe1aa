// The only way this app makes DOM: elements with text nodes. Nothing from the network is ever parsed as HTML
// (no HTML sink anywhere: tests/web/test_app.py checks), so a hostile post is inert text. Every text node and
// title is neutralised (display.js: no bidi overrides or invisible characters), except a textarea's text, which
// a person edits and publishes; views put each field from the network in its own element with dir="auto".

import { neutralize } from './display.js';

const SHOWN_ATTRIBUTES = new Set(['title', 'aria-label', 'placeholder', 'alt']);
// Dozens of combining marks on one letter (Zalgo text) are drawn as a column over the lines around it: a channel's
// name could cover the "Not the channel you follow" warning above it and the owner-key digits of the channels
// around it (red-team finding). No script's ordinary spelling stacks more than four on a letter (Vietnamese two,
// pointed Hebrew with cantillation four), so a longer run keeps its first four. Display only, like neutralize().
const MARK_RUN = /\p{M}{5,}/gu;
const MAX_MARKS = 4;
const calm = (text) => (text.length < 6 ? text : text.replace(MARK_RUN, (run) => Array.from(run).slice(0, MAX_MARKS).join('')));
const shown = (text) => calm(neutralize(text));

/** h('div', {class: 'x', onclick: fn, title: '...'}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = Boolean(v);
      else if (k === 'href' && !/^(#|\/(?!\/))/.test(String(v))) continue; // only our own routes
      else if (SHOWN_ATTRIBUTES.has(k)) el.setAttribute(k, shown(String(v)));
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  // Nothing typed here goes into the browser's form history (a seized phone's autofill lists would name places,
  // phone numbers, keys), unless a field asks for it.
  if ((tag === 'input' || tag === 'textarea') && !el.hasAttribute('autocomplete')) el.setAttribute('autocomplete', 'off');
  append(el, children, tag === 'textarea');
  return el;
}

function append(el, children, raw = false) {
  for (const c of children) {
    if (c === null || c === undefined || c === false || c === '') continue;
    if (Array.isArray(c)) append(el, c, raw);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(raw ? String(c) : shown(String(c))));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function mount(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}
