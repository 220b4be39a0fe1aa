// The strings of the reader's own client (follow by link or QR, mirrors, bundles), merged into i18n.js's
// dictionaries: kept apart so that they can grow without touching the shared ones.

export const READER = {
  en: {
    sources: 'Where channels come from', 'sources-node': 'The node fetched these channels from:', 'sources-phone': 'This phone read these channels directly:',
    'sources-phone-none': 'This phone read every channel from this node.', channel: 'Channel', relays: 'Relays', 'source-file': 'a file', 'source-node': 'this node',
    'direct-off': 'Never connect this phone directly to other relays', 'mirror-read': 'Read directly from {relays}: this node could not answer for this channel.',
    'mirror-bypasses-proxy': 'This node reaches relays through a proxy for privacy; this phone’s direct connections do not go through it.',
    bundles: 'Pass posts on', 'bundles-text': 'Save the followed channels’ recent posts as a file, send it to another phone (Bluetooth, a messenger), or open a file you were sent. Every post is checked before it is kept.',
    'bundle-export': 'Save followed channels as a file', 'bundle-import': 'Open a file',
    'bundle-nothing': 'Follow a channel and open it first: there is nothing to save yet.',
    'bundle-made': 'File made: {n} events, {kb} KB.', 'bundle-download': 'Download {name}',
    'bundle-progress': 'Checking… {valid} valid, {invalid} invalid of {read} read.',
    'bundle-imported': 'Imported {valid} events; {invalid} invalid dropped; {damaged} unreadable.',
    'bundle-unsupported': 'This browser cannot read or make bundle files.',
  },
  ru: {
    sources: 'Откуда каналы', 'sources-node': 'Узел получил эти каналы с:', 'sources-phone': 'Этот телефон читал эти каналы напрямую:',
    'sources-phone-none': 'Этот телефон читал все каналы с этого узла.', channel: 'Канал', relays: 'Релеи', 'source-file': 'файл', 'source-node': 'этот узел',
    'direct-off': 'Никогда не подключать этот телефон напрямую к другим релеям', 'mirror-read': 'Прочитано напрямую с {relays}: этот узел не ответил за этот канал.',
    'mirror-bypasses-proxy': 'Этот узел ходит к релеям через прокси ради приватности; прямые подключения этого телефона идут мимо него.',
    bundles: 'Передать посты', 'bundles-text': 'Сохраните свежие посты каналов, на которые вы подписаны, в файл и отправьте его на другой телефон (Bluetooth, мессенджер) или откройте присланный файл. Каждый пост проверяется, прежде чем сохраниться.',
    'bundle-export': 'Сохранить подписки в файл', 'bundle-import': 'Открыть файл',
    'bundle-nothing': 'Сначала подпишитесь на канал и откройте его: сохранять пока нечего.',
    'bundle-made': 'Файл готов: событий {n}, {kb} КБ.', 'bundle-download': 'Скачать {name}',
    'bundle-progress': 'Проверка… верных {valid}, неверных {invalid}, прочитано {read}.',
    'bundle-imported': 'Импортировано событий: {valid}; отброшено неверных: {invalid}; нечитаемых: {damaged}.',
    'bundle-unsupported': 'Этот браузер не умеет читать и создавать файлы пакетов.',
  },
  be: {
    sources: 'Адкуль каналы', 'sources-node': 'Вузел атрымаў гэтыя каналы з:', 'sources-phone': 'Гэты тэлефон чытаў гэтыя каналы напрамую:',
    'sources-phone-none': 'Гэты тэлефон чытаў усе каналы з гэтага вузла.', channel: 'Канал', relays: 'Рэле', 'source-file': 'файл', 'source-node': 'гэты вузел',
    'direct-off': 'Ніколі не падключаць гэты тэлефон напрамую да іншых рэле', 'mirror-read': 'Прачытана напрамую з {relays}: гэты вузел не адказаў за гэты канал.',
    'mirror-bypasses-proxy': 'Гэты вузел ходзіць да рэле праз проксі дзеля прыватнасці; прамыя падключэнні гэтага тэлефона ідуць міма яго.',
    bundles: 'Перадаць допісы', 'bundles-text': 'Захавайце свежыя допісы каналаў, на якія вы падпісаныя, у файл і дашліце яго на іншы тэлефон (Bluetooth, месенджар) або адкрыйце дасланы файл. Кожны допіс правяраецца, перш чым захавацца.',
    'bundle-export': 'Захаваць падпіскі ў файл', 'bundle-import': 'Адкрыць файл',
    'bundle-nothing': 'Спачатку падпішыцеся на канал і адкрыйце яго: захоўваць пакуль няма чаго.',
    'bundle-made': 'Файл гатовы: падзей {n}, {kb} КБ.', 'bundle-download': 'Спампаваць {name}',
    'bundle-progress': 'Праверка… правільных {valid}, няправільных {invalid}, прачытана {read}.',
    'bundle-imported': 'Імпартавана падзей: {valid}; адкінута няправільных: {invalid}; нечытэльных: {damaged}.',
    'bundle-unsupported': 'Гэты браўзер не ўмее чытаць і ствараць файлы пакетаў.',
  },
};
