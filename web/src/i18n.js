// Belarusian, Russian and English. The browser's languages pick one (be, then ru, else en) until the reader
// chooses in the top bar; the choice is kept in localStorage, in the clear (the lock screen speaks it). Strings
// are plain text with {name} placeholders.

import { READER } from './i18n-reader.js';

const en = {
  title: 'channels', language: 'Language', channels: 'Channels', keys: 'Keys', status: 'Node', online: 'online', offline: 'offline',
  directory: 'Channels by place', search: 'Search', 'search-placeholder': 'Search channels, places…', 'no-match': 'No channel matches.',
  followed: 'Followed', 'all-places': 'All places', 'channels-here': 'Channels here', 'channels-no-place': 'Channels without a place',
  'no-channels': 'This node knows no channels yet.', 'no-channels-offline': 'Offline, and this phone has no saved channels yet.',
  loading: 'Loading…', 'unknown-channel': 'This channel is not known here (offline).', unreadable: 'Unreadable channel',
  follow: 'Follow', unfollow: 'Unfollow', compose: 'Write a post', share: 'Share this channel',
  'posts-count': '{n}', 'no-posts': 'No posts yet.',
  'type-news': 'News', 'type-alert': 'Alert', 'type-help': 'Help request', 'type-safe-place': 'Safe place', 'type-contact': 'Contact',
  'type-event': 'Event', 'type-appeal': 'Appeal', 'type-correction': 'Correction', 'type-retraction': 'Retraction',
  'f-location': 'Where', 'f-time-left': 'Time left', 'f-need': 'Needed', 'f-reach': 'Contact', 'f-hours': 'Open', 'f-role': 'Role',
  'f-start': 'Starts', 'f-end': 'Ends', 'f-purpose': 'For', 'f-target': 'Target', 'f-give': 'How to give', 'f-give-lines': 'How to give (one per line)',
  'f-status': 'Status', 'f-amount': 'Target amount', 'f-currency': 'Currency', 'f-expires-in': 'Expires in', 'f-geohash': 'Geohash (optional)',
  'status-open': 'Open', 'status-resolved': 'Resolved', 'role-lawyer': 'Lawyer', 'role-medic': 'Medic', 'role-other': 'Other',
  expired: 'expired', 'left-hours': '{h} h {m} min', 'left-minutes': '{m} min', 'hours-n': '{n} h',
  'label-confirmed': 'confirmed by {n}', 'label-disputed': 'disputed by {n}', 'label-false': 'false, says {n}', 'label-misleading': 'misleading, says {n}',
  'by-former-admin': 'by a former admin', 'corrected-at': 'corrected {when}', history: 'History', original: 'original', correction: 'correction',
  'retracted-by-channel': 'Retracted by the channel:', 'show-anyway': 'Show the original anyway', 'original-gone': 'the original is no longer on this node',
  'deleted-by-author': 'Deleted by its author.', correct: 'Correct', retract: 'Retract',
  'compose-in': 'New post in {name}', 'correct-title': 'Correct a post', 'retract-title': 'Retract a post', type: 'Type', subject: 'Title (optional)',
  text: 'Text', reason: 'Reason (readers see it instead of the post)', publish: 'Publish', 'publish-correction': 'Publish correction', cancel: 'Cancel',
  'sign-as': 'Sign as', 'signer-phone': 'this phone’s key', 'signer-operator': 'the node operator',
  'not-admin': 'Neither this phone’s key nor an operator login may post in this channel. Show your key to the channel’s owner.',
  'need-reason': 'A retraction needs a reason.', 'bad-geohash': 'The geohash is not valid (0-9 and b-z without a, i, l, o).',
  'not-published': 'Not published', 'not-accepted': 'the node did not accept it',
  'your-key': 'Your key', 'no-key': 'This phone has no key yet. You need one only to post or to be listed as an admin.',
  'create-key': 'Create a key', 'import-key': 'Import a secret key (nsec)', import: 'Import', 'bad-secret': 'That is not a secret key (nsec1… or 64 hex characters).',
  'key-explain': 'Your public key (npub): show it to a channel owner to be made an admin. The secret stays in this browser.',
  'export-key': 'Show the secret key (export)', 'secret-warning': 'Anyone who sees this can post as you. Keep it only somewhere safe.',
  'forget-key': 'Forget this key', 'forget-confirm': 'Delete the key from this phone? Without an export it is gone.',
  verifiers: 'Verifiers you trust', 'verifiers-explain': 'Their labels (confirmed, disputed…) are shown on posts.', add: 'Add', remove: 'Remove',
  'bad-npub': 'That is not a public key (npub1… or 64 hex characters).',
  operator: 'Node operator', 'operator-explain': 'On the node, run “samizdat web login” and open the link it prints, or paste its code here.',
  'operator-token': 'Operator code', 'log-in': 'Log in', 'log-out': 'Log out', 'operator-in': 'Logged in as the node’s operator ({npub}).',
  'operator-refused': 'The node refused this code.',
  'node-unreachable': 'The node cannot be reached now. What this phone saved is still shown in the channels.',
  'node-name': 'Node', 'node-key': 'Operator key', 'key-hidden': 'not shown on this network', 'stored-events': 'Events stored', connections: 'Connections',
  'lan-peers': 'Nodes nearby (LAN)', 'lan-off': 'Discovery of nearby nodes is not running.', 'no-peers': 'No nearby nodes seen.', 'says-unverified': 'calls itself “{name}” (not verified)',
  peer: 'Node', source: 'Found by', 'last-seen': 'Last seen', 'last-sync': 'Last sync', 'events-in-out': 'Events in / out',
  relays: 'Relays', relay: 'Relay', state: 'Reachable', delivered: 'Delivered', waiting: 'Waiting', 'no-relays': 'No relays configured.',
  reachable: 'yes', unreachable: 'no', unknown: 'not tried yet',
  carried: 'Data carried', 'carried-text': 'Received by sync: {in}; sent: {out}; delivered to relays: {delivered}.',
  link: 'Link', 'carry-text': 'Store: {store} MB; up to {quota} MB kept for channels this node does not follow ({dropped} dropped so far).',
  reachability: 'Relays blocked where (anonymous reports, last 24 h)', country: 'Country', hour: 'Hour', verdict: 'Verdict', reports: 'Reports',
  'verdict-blocked': 'blocked', 'verdict-down': 'down', 'verdict-ok': 'reachable', 'verdict-unclear': 'unclear', 'no-reports': 'No reports yet.',
  'this-phone': 'This phone', 'cached-events': 'Saved for offline reading: {n}.',
  'err-needs': '{type}: fill in “{field}”.', 'err-needs-text': '{type}: needs text.',
  'err-end-before-start': 'An event must end after it starts.', 'err-unchanged': 'The correction changes nothing.',
  'resolved-note': 'Resolved:', 'f-resolution': 'How it was resolved (optional)',
  'past-start-confirm': 'This event starts in the past ({when}). Is the date right? Publish anyway?',
  fingerprint: 'Owner key', 'fingerprint-explain': 'Fingerprint of the key that owns this channel: two channels with the same name have different ones. Compare it with the one the channel gave you.',
  'collision-followed': 'Not the channel you follow: another key gave it the name of “{name}” ({fp}).',
  'collision-vouched': 'Not the channel your verifiers vouch for: another key gave it the name of “{name}” ({fp}).',
  'mark-own': 'Yours', 'mark-followed': 'Followed', 'mark-vouched': 'Vouched for by {n}', 'mark-mixed': 'Mixed alphabets: {words}',
  'vouched-only': 'Only channels vouched for by verifiers you trust', 'vouched-channels': 'Vouched channels',
  'no-vouched': 'No channel here is vouched for by the verifiers you trust.', 'no-verifiers': 'Add verifiers you trust (Keys) to see the channels they vouch for.',
  lock: 'Lock this app', 'lock-none': 'Anyone holding this phone can open this app and see the channels you follow, your key and the posts it saved. Set a PIN or passphrase: the app then asks for it when it opens, and keeps all of this encrypted.',
  'lock-on': 'This app is locked: it asks for your PIN or passphrase when it opens, and what it keeps on this phone is encrypted.',
  'lock-advice': 'A 6-digit PIN stops a quick look at your phone, not a forensic lab. Against a lab, use a passphrase of five or six random words.',
  'new-pin': 'New PIN or passphrase', 'pin-again': 'The same again', 'set-pin': 'Lock with it', 'pin-mismatch': 'The two do not match.',
  'pin-short': 'At least {n} characters.', 'pin-working': 'Encrypting… (a few seconds)', 'pin-set': 'Done: the app now asks for this PIN or passphrase when it opens.',
  'pin-is-duress': 'That is your duress PIN: choose another.', 'lock-now': 'Lock now', 'remove-pin': 'Remove the PIN',
  'remove-pin-confirm': 'Remove the PIN? Anyone holding this phone can then open this app.', 'change-pin': 'Change the PIN or passphrase',
  duress: 'Duress PIN', 'duress-pin': 'Duress PIN', 'set-duress': 'Set the duress PIN',
  'duress-explain': 'If you are forced to open this app, type this PIN instead of yours: the app erases everything it keeps on this phone and opens as if it had never been used.',
  'duress-set': 'Duress PIN set.', 'duress-same': 'The duress PIN must differ from your PIN.',
  'unlock-title': 'PIN or passphrase', unlock: 'Open', unlocking: 'Opening…', 'wrong-pin': 'Wrong PIN or passphrase.',
  'panic-confirm': 'Erase everything this app keeps on this phone (your key, follows, saved posts, the operator login) and start afresh?',
  'panic-erase': 'Erase everything', 'panic-erasing': 'Erasing…',
  'node-wipe': 'Wipe this node', 'node-wipe-go': 'Wipe the node', 'node-wiping': 'Wiping…', close: 'Close',
  'node-wipe-confirm': 'Erase the node’s keys and delete everything it holds (channels, posts, its identity)? Nobody can read any of it afterwards, you neither. The node stops.',
  'node-wiped': 'The node was wiped: its keys are erased and its data directory deleted.',
};

const ru = {
  title: 'каналы', language: 'Язык', channels: 'Каналы', keys: 'Ключи', status: 'Узел', online: 'в сети', offline: 'нет связи',
  directory: 'Каналы по местам', search: 'Поиск', 'search-placeholder': 'Поиск каналов, мест…', 'no-match': 'Ничего не найдено.',
  followed: 'Подписки', 'all-places': 'Все места', 'channels-here': 'Каналы здесь', 'channels-no-place': 'Каналы без места',
  'no-channels': 'Этот узел пока не знает каналов.', 'no-channels-offline': 'Нет связи, и на телефоне ещё нет сохранённых каналов.',
  loading: 'Загрузка…', 'unknown-channel': 'Канал здесь неизвестен (нет связи).', unreadable: 'Канал не читается',
  follow: 'Подписаться', unfollow: 'Отписаться', compose: 'Написать пост', share: 'Поделиться каналом',
  'posts-count': '{n}', 'no-posts': 'Постов пока нет.',
  'type-news': 'Новость', 'type-alert': 'Тревога', 'type-help': 'Просьба о помощи', 'type-safe-place': 'Безопасное место', 'type-contact': 'Контакт',
  'type-event': 'Событие', 'type-appeal': 'Сбор', 'type-correction': 'Исправление', 'type-retraction': 'Отзыв',
  'f-location': 'Где', 'f-time-left': 'Осталось', 'f-need': 'Нужно', 'f-reach': 'Связь', 'f-hours': 'Часы работы', 'f-role': 'Кто',
  'f-start': 'Начало', 'f-end': 'Конец', 'f-purpose': 'На что', 'f-target': 'Цель', 'f-give': 'Как помочь', 'f-give-lines': 'Как помочь (по одному в строке)',
  'f-status': 'Статус', 'f-amount': 'Сумма', 'f-currency': 'Валюта', 'f-expires-in': 'Истекает через', 'f-geohash': 'Геохеш (необязательно)',
  'status-open': 'Открыта', 'status-resolved': 'Решена', 'role-lawyer': 'Юрист', 'role-medic': 'Медик', 'role-other': 'Другое',
  expired: 'истекло', 'left-hours': '{h} ч {m} мин', 'left-minutes': '{m} мин', 'hours-n': '{n} ч',
  'label-confirmed': 'подтверждено ({n})', 'label-disputed': 'оспорено ({n})', 'label-false': 'ложь, по мнению {n}', 'label-misleading': 'вводит в заблуждение, по мнению {n}',
  'by-former-admin': 'от бывшего админа', 'corrected-at': 'исправлено {when}', history: 'История', original: 'оригинал', correction: 'исправление',
  'retracted-by-channel': 'Отозвано каналом:', 'show-anyway': 'Всё равно показать оригинал', 'original-gone': 'оригинала больше нет на этом узле',
  'deleted-by-author': 'Удалено автором.', correct: 'Исправить', retract: 'Отозвать',
  'compose-in': 'Новый пост в «{name}»', 'correct-title': 'Исправить пост', 'retract-title': 'Отозвать пост', type: 'Тип', subject: 'Заголовок (необязательно)',
  text: 'Текст', reason: 'Причина (читатели увидят её вместо поста)', publish: 'Опубликовать', 'publish-correction': 'Опубликовать исправление', cancel: 'Отмена',
  'sign-as': 'Подписать как', 'signer-phone': 'ключ этого телефона', 'signer-operator': 'оператор узла',
  'not-admin': 'Ни ключ этого телефона, ни вход оператора не дают права писать в этот канал. Покажите свой ключ владельцу канала.',
  'need-reason': 'Чтобы отозвать пост, нужна причина.', 'bad-geohash': 'Неверный геохеш (0-9 и b-z без a, i, l, o).',
  'not-published': 'Не опубликовано', 'not-accepted': 'узел не принял',
  'your-key': 'Ваш ключ', 'no-key': 'На этом телефоне ещё нет ключа. Он нужен только чтобы писать или стать админом.',
  'create-key': 'Создать ключ', 'import-key': 'Импорт секретного ключа (nsec)', import: 'Импорт', 'bad-secret': 'Это не секретный ключ (nsec1… или 64 hex-символа).',
  'key-explain': 'Ваш публичный ключ (npub): покажите его владельцу канала, чтобы стать админом. Секрет остаётся в этом браузере.',
  'export-key': 'Показать секретный ключ (экспорт)', 'secret-warning': 'Любой, кто это увидит, сможет писать от вашего имени. Храните только в надёжном месте.',
  'forget-key': 'Забыть ключ', 'forget-confirm': 'Удалить ключ с телефона? Без экспорта он пропадёт.',
  verifiers: 'Проверяющие, которым вы доверяете', 'verifiers-explain': 'Их метки (подтверждено, оспорено…) показываются у постов.', add: 'Добавить', remove: 'Убрать',
  'bad-npub': 'Это не публичный ключ (npub1… или 64 hex-символа).',
  operator: 'Оператор узла', 'operator-explain': 'На узле выполните «samizdat web login» и откройте ссылку, которую он выведет, или вставьте код сюда.',
  'operator-token': 'Код оператора', 'log-in': 'Войти', 'log-out': 'Выйти', 'operator-in': 'Вы вошли как оператор узла ({npub}).',
  'operator-refused': 'Узел не принял этот код.',
  'node-unreachable': 'Узел сейчас недоступен. Сохранённое на телефоне по-прежнему видно в каналах.',
  'node-name': 'Узел', 'node-key': 'Ключ оператора', 'key-hidden': 'не показывается в этой сети', 'stored-events': 'Событий хранится', connections: 'Подключений',
  'lan-peers': 'Узлы рядом (LAN)', 'lan-off': 'Поиск узлов рядом не запущен.', 'no-peers': 'Узлов рядом не видно.', 'says-unverified': 'называет себя «{name}» (не проверено)',
  peer: 'Узел', source: 'Найден через', 'last-seen': 'Виден', 'last-sync': 'Синхронизация', 'events-in-out': 'Событий получено / отдано',
  relays: 'Релеи', relay: 'Релей', state: 'Доступен', delivered: 'Доставлено', waiting: 'Ждёт', 'no-relays': 'Релеи не настроены.',
  reachable: 'да', unreachable: 'нет', unknown: 'ещё не пробовали',
  carried: 'Перенесено данных', 'carried-text': 'Получено синхронизацией: {in}; отдано: {out}; доставлено на релеи: {delivered}.',
  link: 'Связь', 'carry-text': 'Хранилище: {store} МБ; до {quota} МБ хранится для каналов, на которые узел не подписан (удалено: {dropped}).',
  reachability: 'Где блокируют релеи (анонимные отчёты, 24 ч)', country: 'Страна', hour: 'Час', verdict: 'Вывод', reports: 'Отчётов',
  'verdict-blocked': 'заблокирован', 'verdict-down': 'не работает', 'verdict-ok': 'доступен', 'verdict-unclear': 'неясно', 'no-reports': 'Отчётов пока нет.',
  'this-phone': 'Этот телефон', 'cached-events': 'Сохранено для чтения без связи: {n}.',
  'err-needs': '{type}: заполните поле «{field}».', 'err-needs-text': '{type}: нужен текст.',
  'err-end-before-start': 'Событие должно закончиться позже, чем начнётся.', 'err-unchanged': 'Исправление ничего не меняет.',
  'resolved-note': 'Решена:', 'f-resolution': 'Как решилась (необязательно)',
  'past-start-confirm': 'Событие начинается в прошлом ({when}). Дата верна? Всё равно опубликовать?',
  fingerprint: 'Ключ владельца', 'fingerprint-explain': 'Отпечаток ключа, которому принадлежит канал: у двух каналов с одним названием они разные. Сверьте его с тем, что дал вам канал.',
  'collision-followed': 'Это не тот канал, на который вы подписаны: другой ключ назвал его как «{name}» ({fp}).',
  'collision-vouched': 'Это не тот канал, за который ручаются ваши проверяющие: другой ключ назвал его как «{name}» ({fp}).',
  'mark-own': 'Ваш', 'mark-followed': 'Подписка', 'mark-vouched': 'Ручаются: {n}', 'mark-mixed': 'Смесь алфавитов: {words}',
  'vouched-only': 'Только каналы, за которые ручаются ваши проверяющие', 'vouched-channels': 'Проверенные каналы',
  'no-vouched': 'Здесь нет каналов, за которые ручаются ваши проверяющие.', 'no-verifiers': 'Добавьте проверяющих, которым доверяете (Ключи), чтобы видеть каналы, за которые они ручаются.',
  lock: 'Блокировка приложения', 'lock-none': 'Любой, у кого в руках этот телефон, может открыть приложение и увидеть ваши подписки, ваш ключ и сохранённые посты. Задайте PIN-код или пароль: приложение будет спрашивать его при открытии и хранить всё это зашифрованным.',
  'lock-on': 'Приложение заблокировано: при открытии оно спрашивает PIN-код или пароль, а всё, что оно хранит на телефоне, зашифровано.',
  'lock-advice': 'PIN-код из 6 цифр защитит от беглого взгляда, но не от криминалистической лаборатории. От неё защитит пароль из пяти-шести случайных слов.',
  'new-pin': 'Новый PIN-код или пароль', 'pin-again': 'Ещё раз то же самое', 'set-pin': 'Заблокировать', 'pin-mismatch': 'Не совпадает.',
  'pin-short': 'Не меньше {n} символов.', 'pin-working': 'Шифрую… (несколько секунд)', 'pin-set': 'Готово: теперь приложение спрашивает этот PIN-код или пароль при открытии.',
  'pin-is-duress': 'Это ваш PIN-код под принуждением: выберите другой.', 'lock-now': 'Заблокировать сейчас', 'remove-pin': 'Убрать PIN-код',
  'remove-pin-confirm': 'Убрать PIN-код? Тогда любой, у кого этот телефон, сможет открыть приложение.', 'change-pin': 'Сменить PIN-код или пароль',
  duress: 'PIN-код под принуждением', 'duress-pin': 'PIN-код под принуждением', 'set-duress': 'Задать PIN-код под принуждением',
  'duress-explain': 'Если вас заставят открыть приложение, введите этот PIN-код вместо своего: приложение сотрёт всё, что хранит на телефоне, и откроется так, будто им никогда не пользовались.',
  'duress-set': 'PIN-код под принуждением задан.', 'duress-same': 'PIN-код под принуждением должен отличаться от вашего PIN-кода.',
  'unlock-title': 'PIN-код или пароль', unlock: 'Открыть', unlocking: 'Открываю…', 'wrong-pin': 'Неверный PIN-код или пароль.',
  'panic-confirm': 'Стереть всё, что приложение хранит на этом телефоне (ваш ключ, подписки, сохранённые посты, вход оператора), и начать заново?',
  'panic-erase': 'Стереть всё', 'panic-erasing': 'Стираю…',
  'node-wipe': 'Стереть этот узел', 'node-wipe-go': 'Стереть узел', 'node-wiping': 'Стираю…', close: 'Закрыть',
  'node-wipe-confirm': 'Стереть ключи узла и удалить всё, что он хранит (каналы, посты, его ключ)? Потом никто не сможет это прочесть, и вы тоже. Узел остановится.',
  'node-wiped': 'Узел стёрт: его ключи уничтожены, папка с данными удалена.',
};

const be = {
  title: 'каналы', language: 'Мова', channels: 'Каналы', keys: 'Ключы', status: 'Вузел', online: 'у сетцы', offline: 'няма сувязі',
  directory: 'Каналы па месцах', search: 'Пошук', 'search-placeholder': 'Пошук каналаў, месцаў…', 'no-match': 'Нічога не знойдзена.',
  followed: 'Падпіскі', 'all-places': 'Усе месцы', 'channels-here': 'Каналы тут', 'channels-no-place': 'Каналы без месца',
  'no-channels': 'Гэты вузел пакуль не ведае каналаў.', 'no-channels-offline': 'Няма сувязі, і на тэлефоне яшчэ няма захаваных каналаў.',
  loading: 'Загрузка…', 'unknown-channel': 'Канал тут невядомы (няма сувязі).', unreadable: 'Канал не чытаецца',
  follow: 'Падпісацца', unfollow: 'Адпісацца', compose: 'Напісаць пост', share: 'Падзяліцца каналам',
  'posts-count': '{n}', 'no-posts': 'Пастоў пакуль няма.',
  'type-news': 'Навіна', 'type-alert': 'Трывога', 'type-help': 'Просьба аб дапамозе', 'type-safe-place': 'Бяспечнае месца', 'type-contact': 'Кантакт',
  'type-event': 'Падзея', 'type-appeal': 'Збор', 'type-correction': 'Выпраўленне', 'type-retraction': 'Адкліканне',
  'f-location': 'Дзе', 'f-time-left': 'Засталося', 'f-need': 'Трэба', 'f-reach': 'Сувязь', 'f-hours': 'Гадзіны працы', 'f-role': 'Хто',
  'f-start': 'Пачатак', 'f-end': 'Канец', 'f-purpose': 'На што', 'f-target': 'Мэта', 'f-give': 'Як дапамагчы', 'f-give-lines': 'Як дапамагчы (па адным у радку)',
  'f-status': 'Статус', 'f-amount': 'Сума', 'f-currency': 'Валюта', 'f-expires-in': 'Сканчаецца праз', 'f-geohash': 'Геахэш (неабавязкова)',
  'status-open': 'Адкрытая', 'status-resolved': 'Вырашана', 'role-lawyer': 'Юрыст', 'role-medic': 'Медык', 'role-other': 'Іншае',
  expired: 'скончылася', 'left-hours': '{h} г {m} хв', 'left-minutes': '{m} хв', 'hours-n': '{n} г',
  'label-confirmed': 'пацверджана ({n})', 'label-disputed': 'аспрэчана ({n})', 'label-false': 'хлусня, на думку {n}', 'label-misleading': 'уводзіць у зман, на думку {n}',
  'by-former-admin': 'ад былога адміна', 'corrected-at': 'выпраўлена {when}', history: 'Гісторыя', original: 'арыгінал', correction: 'выпраўленне',
  'retracted-by-channel': 'Адклікана каналам:', 'show-anyway': 'Усё роўна паказаць арыгінал', 'original-gone': 'арыгінала больш няма на гэтым вузле',
  'deleted-by-author': 'Выдалена аўтарам.', correct: 'Выправіць', retract: 'Адклікаць',
  'compose-in': 'Новы пост у «{name}»', 'correct-title': 'Выправіць пост', 'retract-title': 'Адклікаць пост', type: 'Тып', subject: 'Загаловак (неабавязкова)',
  text: 'Тэкст', reason: 'Прычына (чытачы ўбачаць яе замест паста)', publish: 'Апублікаваць', 'publish-correction': 'Апублікаваць выпраўленне', cancel: 'Скасаваць',
  'sign-as': 'Падпісаць як', 'signer-phone': 'ключ гэтага тэлефона', 'signer-operator': 'аператар вузла',
  'not-admin': 'Ні ключ гэтага тэлефона, ні ўваход аператара не даюць права пісаць у гэты канал. Пакажыце свой ключ уладальніку канала.',
  'need-reason': 'Каб адклікаць пост, патрэбна прычына.', 'bad-geohash': 'Няправільны геахэш (0-9 і b-z без a, i, l, o).',
  'not-published': 'Не апублікавана', 'not-accepted': 'вузел не прыняў',
  'your-key': 'Ваш ключ', 'no-key': 'На гэтым тэлефоне яшчэ няма ключа. Ён патрэбны толькі каб пісаць ці стаць адмінам.',
  'create-key': 'Стварыць ключ', 'import-key': 'Імпарт сакрэтнага ключа (nsec)', import: 'Імпарт', 'bad-secret': 'Гэта не сакрэтны ключ (nsec1… або 64 hex-сімвалы).',
  'key-explain': 'Ваш публічны ключ (npub): пакажыце яго ўладальніку канала, каб стаць адмінам. Сакрэт застаецца ў гэтым браўзеры.',
  'export-key': 'Паказаць сакрэтны ключ (экспарт)', 'secret-warning': 'Кожны, хто гэта ўбачыць, зможа пісаць ад вашага імя. Захоўвайце толькі ў надзейным месцы.',
  'forget-key': 'Забыць ключ', 'forget-confirm': 'Выдаліць ключ з тэлефона? Без экспарту ён знікне.',
  verifiers: 'Праверальнікі, якім вы давяраеце', 'verifiers-explain': 'Іх меткі (пацверджана, аспрэчана…) паказваюцца каля пастоў.', add: 'Дадаць', remove: 'Прыбраць',
  'bad-npub': 'Гэта не публічны ключ (npub1… або 64 hex-сімвалы).',
  operator: 'Аператар вузла', 'operator-explain': 'На вузле выканайце «samizdat web login» і адкрыйце спасылку, якую ён выведзе, або ўстаўце код сюды.',
  'operator-token': 'Код аператара', 'log-in': 'Увайсці', 'log-out': 'Выйсці', 'operator-in': 'Вы ўвайшлі як аператар вузла ({npub}).',
  'operator-refused': 'Вузел не прыняў гэты код.',
  'node-unreachable': 'Вузел зараз недаступны. Захаванае на тэлефоне па-ранейшаму відаць у каналах.',
  'node-name': 'Вузел', 'node-key': 'Ключ аператара', 'key-hidden': 'не паказваецца ў гэтай сетцы', 'stored-events': 'Падзей захоўваецца', connections: 'Падключэнняў',
  'lan-peers': 'Вузлы побач (LAN)', 'lan-off': 'Пошук вузлоў побач не запушчаны.', 'no-peers': 'Вузлоў побач не відаць.', 'says-unverified': 'называе сябе «{name}» (не праверана)',
  peer: 'Вузел', source: 'Знойдзены праз', 'last-seen': 'Бачны', 'last-sync': 'Сінхранізацыя', 'events-in-out': 'Падзей атрымана / аддадзена',
  relays: 'Рэлеі', relay: 'Рэлей', state: 'Даступны', delivered: 'Дастаўлена', waiting: 'Чакае', 'no-relays': 'Рэлеі не наладжаны.',
  reachable: 'так', unreachable: 'не', unknown: 'яшчэ не спрабавалі',
  carried: 'Перанесена даных', 'carried-text': 'Атрымана сінхранізацыяй: {in}; аддадзена: {out}; дастаўлена на рэлеі: {delivered}.',
  link: 'Сувязь', 'carry-text': 'Сховішча: {store} МБ; да {quota} МБ захоўваецца для каналаў, на якія вузел не падпісаны (выдалена: {dropped}).',
  reachability: 'Дзе блакуюць рэлеі (ананімныя справаздачы, 24 г)', country: 'Краіна', hour: 'Гадзіна', verdict: 'Вывад', reports: 'Справаздач',
  'verdict-blocked': 'заблакаваны', 'verdict-down': 'не працуе', 'verdict-ok': 'даступны', 'verdict-unclear': 'незразумела', 'no-reports': 'Справаздач пакуль няма.',
  'this-phone': 'Гэты тэлефон', 'cached-events': 'Захавана для чытання без сувязі: {n}.',
  'err-needs': '{type}: запоўніце поле «{field}».', 'err-needs-text': '{type}: патрэбны тэкст.',
  'err-end-before-start': 'Падзея павінна скончыцца пазней, чым пачнецца.', 'err-unchanged': 'Выпраўленне нічога не мяняе.',
  'resolved-note': 'Вырашана:', 'f-resolution': 'Як вырашылася (неабавязкова)',
  'past-start-confirm': 'Падзея пачынаецца ў мінулым ({when}). Дата правільная? Усё роўна апублікаваць?',
  fingerprint: 'Ключ уладальніка', 'fingerprint-explain': 'Адбітак ключа, якому належыць канал: у двух каналаў з адной назвай яны розныя. Звярыце яго з тым, што даў вам канал.',
  'collision-followed': 'Гэта не той канал, на які вы падпісаныя: іншы ключ назваў яго як «{name}» ({fp}).',
  'collision-vouched': 'Гэта не той канал, за які ручаюцца вашы праверальнікі: іншы ключ назваў яго як «{name}» ({fp}).',
  'mark-own': 'Ваш', 'mark-followed': 'Падпіска', 'mark-vouched': 'Ручаюцца: {n}', 'mark-mixed': 'Сумесь алфавітаў: {words}',
  'vouched-only': 'Толькі каналы, за якія ручаюцца вашы праверальнікі', 'vouched-channels': 'Правераныя каналы',
  'no-vouched': 'Тут няма каналаў, за якія ручаюцца вашы праверальнікі.', 'no-verifiers': 'Дадайце праверальнікаў, якім давяраеце (Ключы), каб бачыць каналы, за якія яны ручаюцца.',
  lock: 'Блакаванне праграмы', 'lock-none': 'Кожны, у каго ў руках гэты тэлефон, можа адкрыць праграму і ўбачыць вашы падпіскі, ваш ключ і захаваныя пасты. Задайце PIN-код або пароль: праграма будзе пытацца яго пры адкрыцці і захоўваць усё гэта зашыфраваным.',
  'lock-on': 'Праграма заблакаваная: пры адкрыцці яна пытаецца PIN-код або пароль, а ўсё, што яна захоўвае на тэлефоне, зашыфраванае.',
  'lock-advice': 'PIN-код з 6 лічбаў абароніць ад беглага позірку, але не ад крыміналістычнай лабараторыі. Ад яе абароніць пароль з пяці-шасці выпадковых слоў.',
  'new-pin': 'Новы PIN-код або пароль', 'pin-again': 'Яшчэ раз тое ж самае', 'set-pin': 'Заблакаваць', 'pin-mismatch': 'Не супадае.',
  'pin-short': 'Не менш за {n} знакаў.', 'pin-working': 'Шыфрую… (некалькі секунд)', 'pin-set': 'Гатова: цяпер праграма пытаецца гэты PIN-код або пароль пры адкрыцці.',
  'pin-is-duress': 'Гэта ваш PIN-код пад прымусам: выберыце іншы.', 'lock-now': 'Заблакаваць зараз', 'remove-pin': 'Прыбраць PIN-код',
  'remove-pin-confirm': 'Прыбраць PIN-код? Тады кожны, у каго гэты тэлефон, зможа адкрыць праграму.', 'change-pin': 'Змяніць PIN-код або пароль',
  duress: 'PIN-код пад прымусам', 'duress-pin': 'PIN-код пад прымусам', 'set-duress': 'Задаць PIN-код пад прымусам',
  'duress-explain': 'Калі вас прымусяць адкрыць праграму, увядзіце гэты PIN-код замест свайго: праграма сатрэ ўсё, што захоўвае на тэлефоне, і адкрыецца так, нібы ёй ніколі не карысталіся.',
  'duress-set': 'PIN-код пад прымусам зададзены.', 'duress-same': 'PIN-код пад прымусам павінен адрознівацца ад вашага PIN-кода.',
  'unlock-title': 'PIN-код або пароль', unlock: 'Адкрыць', unlocking: 'Адкрываю…', 'wrong-pin': 'Няправільны PIN-код або пароль.',
  'panic-confirm': 'Сцерці ўсё, што праграма захоўвае на гэтым тэлефоне (ваш ключ, падпіскі, захаваныя пасты, уваход аператара), і пачаць нанова?',
  'panic-erase': 'Сцерці ўсё', 'panic-erasing': 'Сціраю…',
  'node-wipe': 'Сцерці гэты вузел', 'node-wipe-go': 'Сцерці вузел', 'node-wiping': 'Сціраю…', close: 'Зачыніць',
  'node-wipe-confirm': 'Сцерці ключы вузла і выдаліць усё, што ён захоўвае (каналы, пасты, яго ключ)? Потым ніхто не зможа гэта прачытаць, і вы таксама. Вузел спыніцца.',
  'node-wiped': 'Вузел сцёрты: яго ключы знішчаны, тэчка з данымі выдалена.',
};

export const DICTIONARIES = { be, ru, en };
for (const [code, strings] of Object.entries(READER)) Object.assign(DICTIONARIES[code], strings);
export const LANGUAGES = [['be', 'Бел'], ['ru', 'Рус'], ['en', 'Eng']];

function initial() {
  try {
    const saved = localStorage.getItem('lang');
    if (saved && DICTIONARIES[saved]) return saved;
  } catch {
    /* no storage */
  }
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const code = String(l).slice(0, 2).toLowerCase();
    if (DICTIONARIES[code]) return code;
  }
  return 'en';
}

let current = initial();

export const lang = () => current;

export function setLang(code) {
  if (!DICTIONARIES[code]) return;
  current = code;
  try {
    localStorage.setItem('lang', code);
  } catch {
    /* no storage */
  }
}

/** "1 post", "2 posts", "5 постов", "21 пост": `n` and the word `noun` (posts, events) in the form
 * Intl.PluralRules picks for the language (words in i18n-places.js: noun-one, noun-few, noun-many, noun-other). */
export function plural(noun, n) {
  let form = 'other';
  try {
    form = new Intl.PluralRules(current).select(n);
  } catch {
    /* an old browser: the general form */
  }
  return t(`${noun}-${form}`, { n }) === `${noun}-${form}` ? t(`${noun}-other`, { n }) : t(`${noun}-${form}`, { n });
}

export function t(key, vars) {
  const s = DICTIONARIES[current][key] ?? en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? '')) : s;
}
