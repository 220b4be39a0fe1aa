// Channels by place (country / city / district / block), followed channels first, and a search.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../state.js';

const href = (parts) => '#/place/' + parts.map(encodeURIComponent).join('/');
export const channelHref = (address) => '#/c/' + encodeURIComponent(address);

function card(ch) {
  return h('li', { class: 'channel' },
    h('a', { href: channelHref(ch.address) },
      h('strong', null, ch.name),
      ch.place ? h('span', { class: 'place' }, ch.place.split('/').join(' › ')) : null,
      ch.about ? h('span', { class: 'about' }, ch.about.slice(0, 160)) : null));
}

function valid() {
  return [...state.channels.values()].filter((c) => !c.error).sort((a, b) => a.name.localeCompare(b.name));
}

export function directoryView(path) {
  const el = h('main', { class: 'directory' });
  let query = '';
  const results = h('div');
  const search = h('input', { type: 'search', id: 'search', placeholder: t('search-placeholder'), 'aria-label': t('search'),
    oninput: (ev) => {
      query = ev.target.value.trim().toLowerCase();
      draw();
    } });

  function draw() {
    const all = valid();
    if (query) {
      const hits = all.filter((c) => `${c.name}\n${c.about}\n${c.place}`.toLowerCase().includes(query));
      mount(results, hits.length ? h('ul', { class: 'channels' }, hits.map(card)) : h('p', { class: 'empty' }, t('no-match')));
      return;
    }
    const followed = all.filter((c) => state.follows.includes(c.address));
    const here = all.filter((c) => {
      const p = c.place ? c.place.split('/') : [];
      return p.length >= path.length && path.every((s, i) => p[i] === s);
    });
    const children = new Map();
    const exact = [];
    for (const c of here) {
      const p = c.place ? c.place.split('/') : [];
      if (p.length === path.length) exact.push(c);
      else children.set(p[path.length], (children.get(p[path.length]) || 0) + 1);
    }
    const crumbs = [h('a', { href: '#/' }, t('all-places'))];
    path.forEach((s, i) => crumbs.push(' › ', h('a', { href: href(path.slice(0, i + 1)) }, s)));
    mount(results,
      !path.length && followed.length ? [h('h2', null, t('followed')), h('ul', { class: 'channels followed' }, followed.map(card))] : null,
      h('nav', { class: 'crumbs' }, crumbs),
      children.size ? h('ul', { class: 'places' }, [...children.keys()].sort().map((s) =>
        h('li', null, h('a', { href: href([...path, s]) }, s, h('span', { class: 'count' }, String(children.get(s))))))) : null,
      exact.length ? [h('h2', null, path.length ? t('channels-here') : t('channels-no-place')), h('ul', { class: 'channels' }, exact.map(card))] : null,
      !all.length ? h('p', { class: 'empty' }, state.online ? t('no-channels') : t('no-channels-offline')) : null);
  }

  mount(el, h('h1', null, path.length ? path[path.length - 1] : t('directory')), search, results);
  draw();
  return { el, refresh: draw }; // redraws the results only: the search box keeps its text and focus
}
