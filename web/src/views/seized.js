// What a reader is told of a channel whose recovery key says its owner key was seized (recovery.js): since when,
// and the channel it continues at, with that one's owner key fingerprint. In /screens.js with its words: a claim
// is judged by /extras.js anyway, so nothing of it is needed before the app has loaded more than the page.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../state.js';
import { link } from '../nav.js';
import { fingerprint, neutralize } from '../display.js';
import { when } from './post.js';

export function seizedWarning(channel) {
  const next = state.channels.get(channel.successor);
  const name = next && !next.error ? next.name : t('key-seized-unknown');
  const fp = fingerprint(channel.successor.split(':')[1] || '');
  return [
    h('p', { dir: 'auto' }, t('key-seized', { when: when(channel.seizedSince), name: neutralize(name), fp })),
    h('p', null, link({ screen: 'channel', address: channel.successor }, { id: 'successor', class: 'button primary' }, t('key-seized-follow'))),
  ];
}

export const seizedMark = () => ['⚠ ', t('key-seized-mark')];
