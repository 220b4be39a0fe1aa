// What a reader is told of a channel whose recovery key says its owner key was seized (recovery.js): since when,
// and the channel it continues at, with that one's owner key fingerprint. In /screens.js with its words: a claim
// is judged by /extras.js anyway, so nothing of it is needed before the app has loaded more than the page.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../state.js';
import { link } from '../nav.js';
import { fingerprint, neutralize } from '../display.js';
import { when } from './post.js';

/** "name" (fp) of the channel at `address`, or "a new channel not known here yet" (fp). */
function named(address) {
  const next = state.channels.get(address);
  return { name: neutralize(next && !next.error ? next.name : t('key-seized-unknown')), fp: fingerprint(address.split(':')[1] || '') };
}

export function seizedWarning(channel) {
  const seized = channel.seizedSince == null ? [] : [
    h('p', { dir: 'auto' }, t('key-seized', { when: when(channel.seizedSince), ...named(channel.successor) })),
    h('p', null, link({ screen: 'channel', address: channel.successor }, { id: 'successor', class: channel.recoveryDisputes?.length ? 'button' : 'button primary' }, t('key-seized-follow'))),
  ];
  return [...seized, ...disputeWarning(channel)];
}

/** Trusted verifiers' vouches naming another recovery key than the one this phone honours (recovery.js): both
 * keys' fingerprints, who vouched, where the other key's claim points; nothing was switched (docs/safety.md).
 * Only /extras.js judges disputes, so its npubEncode is there. */
function disputeWarning(channel) {
  const disputes = channel.recoveryDisputes || [];
  if (!disputes.length) return [];
  const ours = channel.recoveryHonoured ? fingerprint(channel.recoveryHonoured) : t('key-dispute-none');
  return [
    h('p', { class: 'dispute', dir: 'auto' }, t('key-dispute', { fp: ours })),
    ...disputes.map((d) => h('p', { class: 'dispute', dir: 'auto' },
      t('key-dispute-other', { fp: fingerprint(d.key), who: d.verifiers.map(self.samizdatExtras.npubEncode).join(', ') }),
      d.successor ? [' ', t('key-dispute-claim', named(d.successor))] : null)),
    h('p', { class: 'dispute' }, t('key-dispute-ask')),
  ];
}

export const seizedMark = (ch) => ['⚠ ', ch.seizedSince == null ? '' : `${t('key-seized-mark')} `, ch.recoveryDisputes?.length ? t('key-dispute-mark') : ''];
