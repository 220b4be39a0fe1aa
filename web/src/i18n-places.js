// The words of places.js and of the start screen, in be, ru and en (merged into i18n.js's dictionaries, kept
// apart so that the rest of the app's words and these change without touching each other).

import { DICTIONARIES } from './i18n.js';

const words = {
  en: {
    'near-you': 'Near you', 'near-pick': 'Choose your place', 'near-change': 'Change place',
    'near-explain': 'Pick your town or district once: its channels are shown here first. It is kept on this phone only and never sent.',
    'near-search': 'Your town or district', 'near-none': 'No channels here yet.', 'near-clear': 'Forget my place',
    'places-tree': 'All places', 'places-matching': 'Places', 'channels-matching': 'Channels',
  },
  ru: {
    'near-you': 'Рядом с вами', 'near-pick': 'Выберите своё место', 'near-change': 'Сменить место',
    'near-explain': 'Выберите город или район один раз: его каналы будут здесь первыми. Выбор хранится только на этом телефоне и никуда не отправляется.',
    'near-search': 'Ваш город или район', 'near-none': 'Здесь пока нет каналов.', 'near-clear': 'Забыть моё место',
    'places-tree': 'Все места', 'places-matching': 'Места', 'channels-matching': 'Каналы',
  },
  be: {
    'near-you': 'Побач з вамі', 'near-pick': 'Выберыце сваё месца', 'near-change': 'Змяніць месца',
    'near-explain': 'Выберыце горад або раён адзін раз: яго каналы будуць тут першымі. Выбар захоўваецца толькі на гэтым тэлефоне і нікуды не адпраўляецца.',
    'near-search': 'Ваш горад або раён', 'near-none': 'Тут пакуль няма каналаў.', 'near-clear': 'Забыць маё месца',
    'places-tree': 'Усе месцы', 'places-matching': 'Месцы', 'channels-matching': 'Каналы',
  },
};

for (const [code, table] of Object.entries(words)) Object.assign(DICTIONARIES[code], table);
