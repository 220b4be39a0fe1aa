// Compose for those who may post: every post type, corrections (changed text and fields of the original; a help
// request's resolution note in its own tag) and retractions (with a NIP-09 deletion request when the retracting
// key wrote the original). Built as the Python builders build them (core/posts.py), checked with the same rules
// before signing. An event starting in the past is published only after the author confirms it (likely a wrong
// date; the CLI asks for --force): a check of the composer, never a rule readers apply.

import { locationPicker } from '../geo.js';
import { h, mount } from '../dom.js';
import { t, lang } from '../i18n.js';
import { state, now } from '../state.js';
import { parsePost, threadView, Malformed, SCHEMA, ALERT_TTL, MAX_RESOLUTION, areaTags } from '../rules.js';
import { extras } from '../lazy.js';
import * as cache from '../cache.js';
import { signers } from './channel.js';
import { go, link } from '../nav.js';
import { when } from './post.js';
import { photoPicker } from './photo-picker.js';
import { PhotoError } from '../photos.js';

const TYPES = ['news', 'alert', 'help', 'safe-place', 'contact', 'event', 'appeal'];
const LINE_FIELDS = ['location', 'need', 'status', 'hours', 'role', 'reach', 'purpose'];
const GEOHASH = /^[0-9b-hjkmnp-z]{1,12}$/;

function fieldTags(f) {
  const tags = LINE_FIELDS.filter((n) => f[n]).map((n) => [n, f[n]]);
  for (const g of f.give || []) tags.push(['give', g]);
  if (f.target) tags.push(['target', f.target[0], f.target[1]]);
  for (const n of ['start', 'end']) if (f[n] != null) tags.push([n, String(f[n])]);
  if (f.geohash) {
    for (let n = Math.min(3, f.geohash.length); n <= f.geohash.length; n++) tags.push(['g', f.geohash.slice(0, n)]);
  }
  if (f.expiration != null) tags.push(['expiration', String(f.expiration)]);
  return tags;
}

const toLocal = (ts) => {
  const d = new Date(ts * 1000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
};
const fromLocal = (v) => (v ? Math.floor(new Date(v).getTime() / 1000) : null);

function input(name, label, value, attrs = {}) {
  return h('label', { class: `in in-${name}` }, h('span', null, label), h('input', { name, value: value ?? '', ...attrs }));
}

function typeInputs(type, f, correcting, resolution = '') {
  const out = [];
  const has = (n) => SCHEMA[type][0].has(n) || SCHEMA[type][1].has(n);
  if (type === 'help' && correcting) {
    out.push(h('label', { class: 'in in-status' }, h('span', null, t('f-status')),
      h('select', { name: 'status' }, ['open', 'resolved'].map((s) => h('option', { value: s, selected: f.status === s }, t(`status-${s}`))))));
    out.push(input('resolution', t('f-resolution'), resolution, { maxlength: MAX_RESOLUTION }));
  }
  if (type === 'contact') {
    out.push(h('label', { class: 'in in-role' }, h('span', null, t('f-role')),
      h('select', { name: 'role' }, ['lawyer', 'medic', 'other'].map((r) => h('option', { value: r, selected: f.role === r }, t(`role-${r}`))))));
  }
  if (has('need')) out.push(input('need', t('f-need'), f.need));
  if (has('purpose')) out.push(input('purpose', t('f-purpose'), f.purpose));
  if (has('start')) out.push(input('start', t('f-start'), f.start ? toLocal(f.start) : '', { type: 'datetime-local' }));
  if (has('end')) out.push(input('end', t('f-end'), f.end ? toLocal(f.end) : '', { type: 'datetime-local' }));
  if (has('location')) out.push(input('location', t('f-location'), f.location));
  if (has('geohash')) out.push(locationPicker(f.geohash)); // derived, never typed (geo.js)
  if (has('hours')) out.push(input('hours', t('f-hours'), f.hours));
  if (has('reach')) out.push(input('reach', t('f-reach'), f.reach));
  if (has('give')) out.push(h('label', { class: 'in in-give' }, h('span', null, t('f-give-lines')), h('textarea', { name: 'give', rows: 3 }, (f.give || []).join('\n'))));
  if (has('target')) {
    out.push(input('amount', t('f-amount'), f.target ? f.target[0] : '', { inputmode: 'decimal' }),
      input('currency', t('f-currency'), f.target ? f.target[1] : '', { autocapitalize: 'characters' }));
  }
  if (type === 'alert' && !correcting) {
    out.push(h('label', { class: 'in in-expires' }, h('span', null, t('f-expires-in')),
      h('select', { name: 'expires' }, [1, 2, 3, 6, 12, 24, 72, 168].map((n) => h('option', { value: n, selected: n * 3600 === ALERT_TTL }, t('hours-n', { n }))))));
  }
  return out;
}

function readFields(form, type, correcting) {
  const v = (n) => (form.elements[n] ? form.elements[n].value.trim() : '');
  const f = {};
  for (const n of LINE_FIELDS) if (v(n)) f[n] = v(n);
  if (v('geohash')) {
    if (!GEOHASH.test(v('geohash'))) throw new Malformed(t('bad-geohash'));
    f.geohash = v('geohash');
  }
  if (form.elements.start) f.start = fromLocal(v('start'));
  if (form.elements.end) f.end = fromLocal(v('end'));
  if (form.elements.give) f.give = v('give').split('\n').map((s) => s.trim()).filter(Boolean);
  if (v('amount') || v('currency')) f.target = [v('amount'), v('currency').toUpperCase()];
  if (type === 'help' && !f.status && !correcting) f.status = 'open';
  for (const k of Object.keys(f)) if (f[k] === null || (Array.isArray(f[k]) && !f[k].length)) delete f[k];
  return f;
}

const FIELD_LABELS = { location: 'f-location', need: 'f-need', status: 'f-status', role: 'f-role', reach: 'f-reach',
  start: 'f-start', purpose: 'f-purpose', give: 'f-give', expiration: 'f-expires-in' };

/** One sentence for a mistake: in the reader's language for the common ones, else the rules' English. */
function explain(exc) {
  const [code, type, field] = exc.code || [];
  if (lang() !== 'en' && code === 'needs') return t('err-needs', { type: t(`type-${type}`), field: t(FIELD_LABELS[field] || field) });
  if (lang() !== 'en' && code === 'needs-text') return t('err-needs-text', { type: t(`type-${type}`) });
  if (lang() !== 'en' && code) return t(`err-${code}`);
  const m = exc.message;
  return m.charAt(0).toUpperCase() + m.slice(1) + (m.endsWith('.') ? '' : '.');
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function composeView(address, mode, targetId) {
  const el = h('main', { class: 'compose' });
  const message = h('p', { class: 'message', role: 'status' });
  let original = null, current = null;
  let edited = false; // the author has typed into the form: a refresh must not redraw it (and lose that)
  let photos = null; // new posts: the photo picker (views/photos.js)

  async function publish(template, signer) {
    if (signer.who === 'operator') {
      const r = await state.operator.sign(template);
      if (r.error) throw new Error(r.error);
      return r.event;
    }
    const { signEvent } = await extras();
    const event = signEvent(template, state.secret);
    const r = await state.relay.publish(event);
    if (!r.ok && !r.message.startsWith('duplicate')) throw new Error(r.message || t('not-accepted'));
    await cache.save(address, [event]);
    return event;
  }

  function draw() {
    edited = false;
    const channel = state.channels.get(address);
    const mine = signers(channel);
    if (!channel || channel.error || !mine.length) {
      mount(el, h('h1', null, t('compose')), h('p', { class: 'error' }, channel ? t('not-admin') : t('loading')),
        h('p', null, link({ screen: 'keys' }, null, t('keys'))));
      return;
    }
    if (mode && !original) {
      mount(el, h('p', null, t('loading')));
      return;
    }
    const correcting = mode === 'correct', retracting = mode === 'retract';
    photos?.destroy();
    photos = mode ? null : photoPicker(() => mine[signerSelect ? Number(form.elements.signer.value) : 0]);
    let type = correcting || retracting ? current.verdict.post.type : 'news';
    const fieldBox = h('div', { class: 'type-fields' });
    const signerSelect = mine.length > 1 ? h('label', { class: 'in' }, h('span', null, t('sign-as')),
      h('select', { name: 'signer' }, mine.map((s, i) => h('option', { value: i }, t(`signer-${s.who}`))))) : null;
    const typeSelect = mode ? null : h('label', { class: 'in in-type' }, h('span', null, t('type')),
      h('select', { name: 'type', onchange: (ev) => {
        type = ev.target.value;
        mount(fieldBox, typeInputs(type, {}, false));
      } }, TYPES.map((ty) => h('option', { value: ty }, t(`type-${ty}`)))));
    const form = h('form', { class: 'compose-form', oninput: () => { edited = true; }, onsubmit: async (ev) => {
      ev.preventDefault();
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const signer = mine[signerSelect ? Number(form.elements.signer.value) : 0];
        const ts = now();
        const hint = channel.mirrors[0] || '';
        const text = form.elements.text.value.replace(/\r\n/g, '\n');
        const subject = form.elements.subject ? form.elements.subject.value.trim() : '';
        const tags = [['a', address, hint]];
        let deletion = null, pastStart = null;
        if (retracting) {
          if (!text.trim()) throw new Malformed(t('need-reason'));
          tags.push(['type', 'retraction'], ['e', original.id, current.verdict.post.channelRelay, 'retraction', original.pubkey]);
          tags.push(...areaTags(channel.geohash), ['alt', 'Samizdat channel post (retraction)']);
          if (signer.pubkey === original.pubkey) {
            deletion = { kind: 5, content: text, tags: [['e', original.id], ['k', '2333'], ...areaTags(channel.geohash)], created_at: ts };
          }
        } else if (correcting) {
          const f = readFields(form, type, true);
          const changes = {};
          for (const [k, val] of Object.entries(f)) if (!same(val, current.fields[k])) changes[k] = val;
          tags.push(['type', 'correction']);
          if (subject && subject !== current.subject) tags.push(['subject', subject]);
          tags.push(['e', original.id, current.verdict.post.channelRelay, 'correction', original.pubkey]);
          // A changed note is written with the status resolved (the tag needs it); an emptied one clears it.
          const note = form.elements.resolution ? form.elements.resolution.value.trim() : '';
          if (f.status === 'resolved' && note !== current.resolution) changes.status = 'resolved';
          tags.push(...fieldTags(changes));
          if (note && changes.status === 'resolved') tags.push(['resolution', note]);
          tags.push(...areaTags(channel.geohash), ['alt', 'Samizdat channel post (correction)']);
        } else {
          const f = readFields(form, type, false);
          pastStart = type === 'event' && f.start != null && f.start < ts ? f.start : null;
          if (type === 'alert') f.expiration = ts + Number(form.elements.expires.value) * 3600;
          tags.push(['type', type]);
          if (subject) tags.push(['subject', subject]);
          tags.push(...fieldTags(f), ...areaTags(channel.geohash), ['alt', `Samizdat channel post (${type})`]);
        }
        const body = correcting && text.trim() === current.text.trim() ? '' : text;
        const template = { kind: 2333, content: body, tags, created_at: ts };
        parsePost({ ...template, id: '0'.repeat(64), pubkey: signer.pubkey, sig: '' }); // the reader's rules
        if (correcting && current) {
          threadView(original, [], channel, ts); // original still valid
        }
        if (pastStart !== null && !confirm(t('past-start-confirm', { when: when(pastStart) }))) {
          button.disabled = false; // declined: nothing is signed, the form keeps what was typed
          return null;
        }
        if (photos) template.tags.push(...await photos.tags(address, (m) => { message.className = 'message'; message.textContent = m; }));
        const event = await publish(template, signer);
        if (deletion) await publish(deletion, signer);
        go({ screen: 'channel', address }, { replace: true }); // back from the channel: not to the sent form
        return event;
      } catch (exc) {
        message.className = 'message error';
        message.textContent = exc instanceof Malformed ? explain(exc) : exc instanceof PhotoError ? exc.message : `${t('not-published')}: ${exc.message}`;
        button.disabled = false;
      }
      return null;
    } },
    signerSelect, typeSelect,
    retracting ? null : input('subject', t('subject'), correcting ? current.subject : '', { maxlength: 200 }),
    fieldBox,
    h('label', { class: 'in in-text' }, h('span', null, retracting ? t('reason') : t('text')),
      h('textarea', { name: 'text', rows: 5 }, correcting ? current.text : '')),
    photos?.el, message,
    h('button', { type: 'submit', class: 'primary' }, retracting ? t('retract') : correcting ? t('publish-correction') : t('publish')),
    ' ', link({ screen: 'channel', address }, null, t('cancel')));
    if (!retracting) mount(fieldBox, typeInputs(type, correcting ? current.fields : {}, correcting, correcting ? current.resolution : ''));
    mount(el,
      h('h1', null, retracting ? t('retract-title') : correcting ? t('correct-title') : t('compose-in', { name: channel.name })),
      mode ? h('blockquote', { class: 'original' }, h('span', { class: 'type' }, t(`type-${type}`)), ' ', original.content) : null,
      form);
  }

  if (mode) {
    const collected = new Map();
    const settle = () => {
      if (edited && el.querySelector('form')) return;
      const channel = state.channels.get(address);
      original = collected.get(targetId) || null;
      if (original && channel && !channel.error) {
        current = threadView(original, [...collected.values()], channel, now(), new Set(state.verifiers));
        if (current.verdict.status !== 'valid') original = null;
      }
      draw();
    };
    cache.load(address).then((saved) => {
      for (const e of saved) if (e.id === targetId || (e.tags || []).some((tg) => tg[0] === 'e' && tg[1] === targetId)) collected.set(e.id, e);
      settle();
    });
    const sub = state.relay.subscribe([{ ids: [targetId] }, { kinds: [2333], '#e': [targetId] }], (e) => {
      collected.set(e.id, e);
    }, () => settle());
    return { el, refresh: settle, destroy: () => state.relay.close(sub) };
  }
  draw();
  return { el, refresh: () => {
    if (!el.querySelector('form')) draw();
  }, destroy: () => photos?.destroy() };
}
