// A channel's admins, for an operator logged in as its owner (in /screens.js, loaded when opened): remove one, as
// `samizdat channel admins --remove --since` does, through the same service on the node (/op "admins",
// src/samizdat/web/operator_admins.py). The owner picks when the key may have gone into other hands (now, or the
// arrest); the page says what follows before anything is sent: the key's posts from then on stop counting, and its
// earlier retractions and corrections are kept, signed again by the owner's key. Those of others' posts are listed
// first (a preview: "preview": true, nothing changes), each with a checkbox: whoever holds the key (the police after
// an arrest) could have retracted an editor's real warning and dated it before the arrest, and the node cannot tell
// (docs/safety.md, "Red team, round 12"); only the checked ones' amendments are sent ("shown") and signed again.
// One the key itself deleted (a NIP-09 request: the police can delete the admin's honest retraction of a fake) is
// listed too, "withdrawn by the key on <date>" (round 13): its text is gone, so keeping it retracts the post; it is
// unchecked, kept only when the owner checks it (round 15: the key's holder makes such records unseen).

import { clear, h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../state.js';
import { when } from './post.js';

const toLocal = (ts) => {
  const d = new Date(ts * 1000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
};

const short = (pubkey) => `${pubkey.slice(0, 8)}…${pubkey.slice(-4)}`;

/** Fill `slot` (the channel's screen's, kept across its redraws) with the admins of `channel` (at `address`), whose
 * owner is the operator's key: a box opened on a tap, which says how the last removal went; drawn again, open as it
 * was, when a new definition comes. */
export function adminsBox(slot, channel, address) {
  if (!slot.admins) {
    const list = h('div');
    const note = h('p', { class: 'message', role: 'status', id: 'admins-note' });
    const details = h('details', { class: 'admins', id: 'admins', ontoggle: () => draw(slot) }, h('summary', null, t('admins-title')), list, note);
    slot.admins = { details, list, note, channel: null };
    mount(slot, details);
  }
  slot.admins.next = [channel, address];
  draw(slot);
}

function draw(slot) {
  const box = slot.admins;
  const [channel, address] = box.next;
  if (!box.details.open || box.channel === channel) return;
  box.channel = channel;
  mount(box.list, adminsView(channel, address, box.note));
}

function adminsView(channel, address, note) {
  const list = h('ul', { class: 'admins-list' });
  const admins = [...channel.admins.entries()];
  for (const [pubkey, role] of admins) list.appendChild(row(pubkey, role));
  const box = h('div', { class: 'admins-box' },
    admins.length ? list : h('p', null, t('admins-none')),
    channel.revoked.size ? h('ul', { class: 'revoked-list' }, ...[...channel.revoked.entries()].map(([pubkey, since]) =>
      h('li', { 'data-key': pubkey }, h('code', null, short(pubkey)), ' ', t('admin-revoked', { when: when(since) })))) : null,
    note);

  function row(pubkey, role) {
    const li = h('li', { 'data-key': pubkey }, h('code', null, short(pubkey)), ' ', t(`admin-role-${role === 'editor' ? 'editor' : 'admin'}`), ' ',
      h('button', { class: 'danger admin-remove', onclick: () => ask(li, pubkey) }, t('admin-remove')));
    return li;
  }

  function ask(li, pubkey) {
    if (li.querySelector('form')) return;
    const name = `since-${pubkey.slice(0, 8)}`;
    const nowChoice = h('input', { type: 'radio', name, value: 'now', checked: true, class: 'since-now' });
    const atChoice = h('input', { type: 'radio', name, value: 'at', class: 'since-at' });
    const at = h('input', { type: 'datetime-local', name: 'at', class: 'since-time', value: toLocal(Math.floor(Date.now() / 1000)) });
    at.addEventListener('input', () => { atChoice.checked = true; });
    const go = h('button', { type: 'submit', class: 'danger admin-remove-go' }, t('admin-remove'));
    const kept = h('div', { class: 'admin-kept' });
    let review = null; // the node's preview for the time chosen: { since, items }
    const again = () => { review = null; clear(kept); go.textContent = t('admin-remove'); };
    for (const input of [nowChoice, atChoice, at]) input.addEventListener('change', again);
    at.addEventListener('input', again);
    const form = h('form', { class: 'admin-remove-form', onsubmit: async (ev) => {
      ev.preventDefault();
      let since = null;
      if (atChoice.checked) {
        since = at.value ? Math.floor(new Date(at.value).getTime() / 1000) : NaN;
        if (!Number.isFinite(since) || since > Date.now() / 1000) {
          note.textContent = t('admin-bad-time');
          return;
        }
      }
      const who = short(pubkey);
      const op = state.operator;
      if (!op) {
        note.textContent = `${t('admin-not-removed')} ${t('offline')}`;
        return;
      }
      if (!review) {
        go.disabled = true;
        note.textContent = t('admin-reviewing');
        const seen = await op.request({ admins: { channel: address, remove: pubkey, since, preview: true } });
        go.disabled = false;
        if (!seen.admins) {
          note.textContent = `${t('admin-not-removed')} ${seen.error === 'offline' ? t('offline') : seen.error || ''}`;
          return;
        }
        note.textContent = '';
        // "now" is the preview's moment: what the key dates later is neither listed nor kept.
        review = { since: since ?? seen.admins.since, items: seen.admins.review || [] };
        if (review.items.length || seen.admins.review_more) {
          mount(kept, keptList(review.items, seen.admins.review_more || 0));
          go.textContent = t('admin-review-go');
          return;
        }
      }
      const boxes = [...kept.querySelectorAll('input.admin-keep')];
      const left = boxes.filter((c) => !c.checked).length;
      const question = t('admin-remove-confirm', { who, when: since === null ? t('admin-since-now') : when(since) });
      if (!confirm(left ? `${question} ${t('admin-dropped', { n: left })}` : question)) return;
      go.disabled = true;
      note.textContent = t('admin-removing');
      // Nothing listed: no drop, so that one of others' posts' amendments arriving meanwhile is refused, not kept;
      // listed: "shown", the ids of the amendments listed and left checked, so that no other is kept (one arriving
      // meanwhile, of a listed post too, or beyond the list's room: red team, round 13).
      const shown = boxes.filter((c) => c.checked).flatMap((c) => c.dataset.ids.split(' '));
      const removal = { channel: address, remove: pubkey, since: review.since, ...(review.items.length ? { drop: [], shown } : {}) };
      const answer = await op.request({ admins: removal });
      go.disabled = false;
      if (!answer.admins) {
        note.textContent = `${t('admin-not-removed')} ${answer.error === 'offline' ? t('offline') : answer.error || ''}`;
        again();
        return;
      }
      note.textContent = t('admin-removed', { who, n: answer.admins.kept });
      li.remove();
    } },
    h('p', null, t('admin-since')),
    h('label', null, nowChoice, ' ', t('admin-since-now')), ' ',
    h('label', null, atChoice, ' ', t('admin-since-at'), ' ', at),
    kept,
    h('p', { class: 'actions' }, go, ' ', h('button', { type: 'button', onclick: () => form.remove() }, t('cancel'))));
    li.appendChild(form);
  }

  return box;
}

/** The retractions and corrections of others' posts the removal would sign again, each checked (kept) until the
 * owner unchecks it, but those the key withdrew unchecked (kept only if the owner checks them); the checked ones'
 * amendments are sent in "shown". Text from the network: each field in its own element. */
function keptList(items, more) {
  const role = (r) => (r === 'admin' || r === 'editor' ? t(`admin-role-${r}`) : '');
  return h('fieldset', { class: 'admin-kept-list' },
    h('legend', null, t('admin-review')),
    ...items.map((item) => {
      const gone = item.withdrawn || [];
      const goneIds = gone.map((w) => w.id);
      const live = item.amendments.filter((id) => !goneIds.includes(id));
      // What the key withdrew is unchecked (red team, round 15): keeping it changes what readers see now, on a
      // record with no text, which the key's holder can make unseen (published and deleted at once; a correction
      // becomes the post's retraction); what readers see now (a live amendment) stays checked.
      const box = (ids, checked) => h('input', { type: 'checkbox', class: 'admin-keep', value: item.target, checked, 'data-ids': ids.join(' ') });
      const withdrawnBox = live.length && gone.length ? [box(goneIds, false), ' '] : null;
      return h('label', { class: 'admin-kept-item', 'data-target': item.target },
        live.length ? box(live, true) : box(goneIds, false), ' ',
        live.length ? (item.action === 'retracted' ? t('admin-kept-retracted') : t('admin-kept-corrected', { fields: item.fields.join(', ') })) : '', ' ',
        role(item.role), ' ', h('code', null, short(item.author)), ': ',
        h('q', { dir: 'auto' }, item.text), ' ', t('admin-kept-dated', { when: when(item.created_at) }),
        item.reason ? [' ', t('admin-kept-reason'), ' ', h('q', { dir: 'auto' }, item.reason)] : null,
        // One the key deleted itself (NIP-09): the node kept a record, not its text; kept, the owner retracts the post.
        gone.length ? h('span', { class: 'admin-kept-withdrawn' }, ' ', withdrawnBox,
          gone.map((w) => [t(w.type === 'retraction' ? 'admin-kept-withdrawn' : 'admin-kept-withdrawn-correction', { when: when(w.deleted_at) }), ' '])) : null);
    }),
    more ? h('p', null, t('admin-kept-more', { n: more })) : null);
}
