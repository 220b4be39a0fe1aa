// One feed item as a reader sees it: each post type shown for what it is, corrections with their originals,
// retractions as a notice with the reason, labels from trusted verifiers as badges. Text only (dom.js).

import { h } from '../dom.js';
import { t, lang } from '../i18n.js';
import { link } from '../nav.js';
import { photosView } from './photos.js';
import { REMOVED_CORRECTION } from '../rules.js';

export function when(ts) {
  try {
    // Chromium's ICU has no month names for Belarusian, so Belarusian and Russian both read dates as numbers
    // (05.12.2026, 14:30: one style in the two languages a reader switches between); English as "Dec 5, 2026".
    const options = lang() === 'en' ? { dateStyle: 'medium', timeStyle: 'short' }
      : { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit' };
    return new Intl.DateTimeFormat(lang(), options).format(new Date(ts * 1000));
  } catch {
    return new Date(ts * 1000).toISOString();
  }
}

export function timeLeft(seconds) {
  if (seconds <= 0) return t('expired');
  const hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60);
  return hours ? t('left-hours', { h: hours, m: minutes }) : t('left-minutes', { m: Math.max(1, minutes) });
}

const row = (label, value, cls) => value ? h('div', { class: `field ${cls || ''}` }, h('span', { class: 'k' }, label), h('span', { class: 'v', dir: 'auto' }, value)) : null;

function fieldsFor(type, f, now) {
  switch (type) {
    case 'alert':
      return [row(t('f-location'), f.location, 'location'),
        f.expiration ? row(t('f-time-left'), timeLeft(f.expiration - now), 'time-left') : null];
    case 'help':
      return [h('div', { class: `status status-${f.status}` }, t(`status-${f.status}`)),
        row(t('f-need'), f.need, 'need'), row(t('f-location'), f.location), row(t('f-reach'), f.reach)];
    case 'safe-place':
      return [row(t('f-location'), f.location, 'location'), row(t('f-hours'), f.hours), row(t('f-reach'), f.reach)];
    case 'contact':
      return [row(t('f-role'), f.role ? t(`role-${f.role}`) : '', 'role'), row(t('f-reach'), f.reach, 'reach'),
        row(t('f-location'), f.location), row(t('f-hours'), f.hours)];
    case 'event':
      return [row(t('f-start'), f.start ? when(f.start) : '', 'start'), row(t('f-end'), f.end ? when(f.end) : ''),
        row(t('f-location'), f.location, 'location')];
    case 'appeal':
      return [row(t('f-purpose'), f.purpose, 'purpose'),
        f.target ? row(t('f-target'), `${f.target[0]} ${f.target[1]}`) : null,
        f.give && f.give.length ? h('div', { class: 'field give' }, h('span', { class: 'k' }, t('f-give')),
          h('ul', null, f.give.map((g) => h('li', { dir: 'auto' }, g)))) : null];
    default:
      return [row(t('f-location'), f.location)];
  }
}

function history(item) {
  const { view, original } = item;
  return h('details', { class: 'history' }, h('summary', null, t('history')),
    h('ol', null,
      h('li', null, h('span', { class: 'when' }, when(original.created_at)), ' ', t('original'), ': ', h('q', { dir: 'auto' }, original.content)),
      view.corrections.map((c) => h('li', null, h('span', { class: 'when' }, when(c.created_at)), ' ', t('correction'), ': ',
        c.text.trim() ? h('q', { dir: 'auto' }, c.text) : Object.keys(c.fields).map((k) => `${k} → ${c.fields[k]}`).join(', '),
        c.resolution ? [' · ', t('resolved-note'), ' ', h('q', { dir: 'auto' }, c.resolution)] : null))));
}

const LONG = 600; // characters: a longer text is folded behind "Read more"

/** A post's text; a long one shows its start and a "Read more" button (the whole text is in the page, so the
 * search of the browser and a screen reader still find it once unfolded). */
function longText(text) {
  const p = h('p', { class: 'text', dir: 'auto' }, text);
  if (text.length <= LONG) return p;
  p.classList.add('folded');
  const more = h('button', { type: 'button', class: 'small more', 'aria-expanded': 'false', onclick: () => {
    const folded = p.classList.toggle('folded');
    more.setAttribute('aria-expanded', String(!folded));
    more.textContent = folded ? t('read-more') : t('read-less');
    // The windowed list measures items once: tell it this one changed size.
    more.dispatchEvent(new CustomEvent('resize-item', { bubbles: true }));
  } }, t('read-more'));
  return [p, more];
}

/** ctx: {now, canAmend(authorPubkey) -> bool, compose(mode, id) -> route} */
export function renderPost(item, ctx) {
  if (item.orphan) {
    return h('article', { class: 'post retracted orphan', 'data-id': item.orphan.target },
      h('p', { class: 'notice' }, t('retracted-by-channel'), ' ', h('q', { class: 'reason', dir: 'auto' }, item.orphan.text)),
      h('p', { class: 'meta' }, when(item.created_at), ' · ', t('original-gone')));
  }
  const { view, original } = item;
  const post = view.verdict.post;
  const type = post.type;
  const badges = Object.entries(view.labels).map(([value, n]) =>
    h('span', { class: `badge label-${value}`, title: view.labelEvents.filter((l) => l.value === value).map((l) => l.reason).join(' / ') },
      t(`label-${value}`, { n })));
  const meta = h('p', { class: 'meta' },
    h('span', { class: `type type-${type}` }, t(`type-${type}`)), ' · ', when(original.created_at),
    view.verdict.role === 'former' ? [' · ', h('span', { class: 'former' }, t(ctx.channel && original.pubkey === ctx.channel.owner ? 'by-former-owner' : 'by-former-admin'))] : null,
    view.corrections.length ? [' · ', h('span', { class: 'corrected' }, t('corrected-at', { when: when(view.corrections[view.corrections.length - 1].created_at) }))] : null);
  const actions = ctx.canAmend(original.pubkey) && !view.retraction ? h('p', { class: 'actions' },
    link(ctx.compose('correct', original.id), { class: 'button small' }, t('correct')),
    link(ctx.compose('retract', original.id), { class: 'button small' }, t('retract'))) : null;
  if (view.retraction) {
    return h('article', { class: `post retracted type-${type}`, 'data-id': original.id },
      meta,
      h('p', { class: 'notice' }, t('retracted-by-channel'), ' ', h('q', { class: 'reason', dir: 'auto' }, view.retraction.text)),
      h('details', null, h('summary', null, t('show-anyway')),
        view.subject ? h('h3', { dir: 'auto' }, view.subject) : null, h('p', { class: 'text', dir: 'auto' }, view.text)),
      badges.length ? h('p', { class: 'badges' }, badges) : null);
  }
  if (view.deletion) {
    return h('article', { class: `post deleted type-${type}`, 'data-id': original.id }, meta,
      h('p', { class: 'notice' }, t('deleted-by-author'), view.deletion.content ? [' ', h('q', { dir: 'auto' }, view.deletion.content)] : null));
  }
  return h('article', { class: `post type-${type}`, 'data-id': original.id },
    meta,
    view.subject ? h('h3', { dir: 'auto' }, view.subject) : null,
    h('div', { class: 'fields' }, fieldsFor(type, view.fields, ctx.now)),
    view.text ? longText(view.text) : null,
    photosView(original),
    // How a help request was resolved: under its text, which a resolution keeps (docs/protocol.md, Corrections).
    view.resolution ? h('p', { class: 'resolution' }, h('span', { class: 'k' }, t('resolved-note')), ' ',
      h('span', { class: 'v', dir: 'auto' }, view.resolution)) : null,
    badges.length ? h('p', { class: 'badges' }, badges) : null,
    // A removed key's corrections are not applied (rules.js): say so, the place shown is the one first posted.
    view.ignored.some(([, why]) => why === REMOVED_CORRECTION) ? h('p', { class: 'warning unapplied' }, t('former-correction')) : null,
    view.corrections.length ? history(item) : null,
    actions);
}
