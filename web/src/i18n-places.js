// The words of places.js, the start screen, plurals (i18n.js plural) and the status page's peers, in be, ru and en (merged into i18n.js's dictionaries, kept
// apart so that the rest of the app's words and these change without touching each other).

import { DICTIONARIES } from './i18n.js';

const words = {
  en: {
    'near-you': 'Near you', 'near-pick': 'Choose your place', 'near-change': 'Change place',
    'near-explain': 'Pick your town or district once: its channels are shown here first. It is kept on this phone only and never sent.',
    'near-search': 'Your town or district', 'near-none': 'No channels here yet.', 'near-clear': 'Forget my place',
    'places-tree': 'All places', 'places-matching': 'Places', 'channels-matching': 'Channels',
    'posts-one': '{n} post', 'posts-other': '{n} posts', 'events-one': '{n} event', 'events-other': '{n} events',
    'nodes-added': 'Nodes added by hand', 'source-mdns': 'LAN', 'source-manual': 'by hand',
    'peer-new': 'not yet', 'peer-connecting': 'connecting', 'peer-syncing': 'syncing', 'peer-live': 'connected',
    'peer-backoff': 'waiting to retry', 'peer-passive': 'connects to us', 'read-more': 'Read more', 'read-less': 'Show less',
    'use-my-location': 'Add my location to the post', 'location-added': 'Location added ({where}).',
    'data-used': 'Mobile data used by this app this month: {mb} MB.', 'data-cap': 'Cap per month',
    'data-no-cap': 'no cap', 'data-reset': 'Reset the counter',
    'data-capped': 'The cap is reached: the app is not connecting and shows what this phone saved.',
    'location-failed': 'The phone did not give a location.', 'location-channel': 'The post is placed in the channel’s area.',
  },
  ru: {
    'near-you': 'Рядом с вами', 'near-pick': 'Выберите своё место', 'near-change': 'Сменить место',
    'near-explain': 'Выберите город или район один раз: его каналы будут здесь первыми. Выбор хранится только на этом телефоне и никуда не отправляется.',
    'near-search': 'Ваш город или район', 'near-none': 'Здесь пока нет каналов.', 'near-clear': 'Забыть моё место',
    'places-tree': 'Все места', 'places-matching': 'Места', 'channels-matching': 'Каналы',
    'posts-one': '{n} пост', 'posts-few': '{n} поста', 'posts-many': '{n} постов', 'posts-other': '{n} поста',
    'events-one': '{n} событие', 'events-few': '{n} события', 'events-many': '{n} событий', 'events-other': '{n} события',
    'nodes-added': 'Узлы, добавленные вручную', 'source-mdns': 'LAN', 'source-manual': 'вручную',
    'peer-new': 'ещё нет', 'peer-connecting': 'подключается', 'peer-syncing': 'синхронизация', 'peer-live': 'на связи',
    'peer-backoff': 'ждёт повтора', 'peer-passive': 'подключается к нам', 'read-more': 'Читать дальше', 'read-less': 'Свернуть',
    'use-my-location': 'Добавить к посту моё местоположение', 'location-added': 'Местоположение добавлено ({where}).',
    'data-used': 'Мобильный трафик приложения в этом месяце: {mb} МБ.', 'data-cap': 'Лимит в месяц',
    'data-no-cap': 'без лимита', 'data-reset': 'Обнулить счётчик',
    'data-capped': 'Лимит исчерпан: приложение не подключается и показывает то, что сохранено на телефоне.',
    'location-failed': 'Телефон не сообщил местоположение.', 'location-channel': 'Пост будет отнесён к району канала.',
  },
  be: {
    'near-you': 'Побач з вамі', 'near-pick': 'Выберыце сваё месца', 'near-change': 'Змяніць месца',
    'near-explain': 'Выберыце горад або раён адзін раз: яго каналы будуць тут першымі. Выбар захоўваецца толькі на гэтым тэлефоне і нікуды не адпраўляецца.',
    'near-search': 'Ваш горад або раён', 'near-none': 'Тут пакуль няма каналаў.', 'near-clear': 'Забыць маё месца',
    'places-tree': 'Усе месцы', 'places-matching': 'Месцы', 'channels-matching': 'Каналы',
    'posts-one': '{n} пост', 'posts-few': '{n} пасты', 'posts-many': '{n} пастоў', 'posts-other': '{n} паста',
    'events-one': '{n} падзея', 'events-few': '{n} падзеі', 'events-many': '{n} падзей', 'events-other': '{n} падзеі',
    'nodes-added': 'Вузлы, дададзеныя ўручную', 'source-mdns': 'LAN', 'source-manual': 'уручную',
    'peer-new': 'яшчэ не', 'peer-connecting': 'падключаецца', 'peer-syncing': 'сінхранізацыя', 'peer-live': 'на сувязі',
    'peer-backoff': 'чакае паўтору', 'peer-passive': 'падключаецца да нас', 'read-more': 'Чытаць далей', 'read-less': 'Згарнуць',
    'use-my-location': 'Дадаць да паста маё месцазнаходжанне', 'location-added': 'Месцазнаходжанне дададзена ({where}).',
    'data-used': 'Мабільны трафік праграмы ў гэтым месяцы: {mb} МБ.', 'data-cap': 'Ліміт на месяц',
    'data-no-cap': 'без ліміту', 'data-reset': 'Абнуліць лічыльнік',
    'data-capped': 'Ліміт вычарпаны: праграма не падключаецца і паказвае тое, што захавана на тэлефоне.',
    'location-failed': 'Тэлефон не паведаміў месцазнаходжанне.', 'location-channel': 'Пост будзе аднесены да раёна канала.',
  },
};

for (const [code, table] of Object.entries(words)) Object.assign(DICTIONARIES[code], table);
