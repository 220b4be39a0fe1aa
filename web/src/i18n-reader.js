// The strings of the reader's own client (follow by link or QR, mirrors, bundles), merged into i18n.js's
// dictionaries: kept apart so that they can grow without touching the shared ones.

export const READER = {
  en: {
    bundles: 'Pass posts on', 'bundles-text': 'Save the followed channels’ recent posts as a file, send it to another phone (Bluetooth, a messenger), or open a file you were sent. Every post is checked before it is kept.',
    'bundle-export': 'Save followed channels as a file', 'bundle-import': 'Open a file',
    'bundle-nothing': 'Follow a channel and open it first: there is nothing to save yet.',
    'bundle-made': 'File made: {n} events, {kb} KB.', 'bundle-download': 'Download {name}',
    'bundle-progress': 'Checking… {valid} valid, {invalid} invalid of {read} read.',
    'bundle-imported': 'Imported {valid} events; {invalid} invalid dropped; {damaged} unreadable.',
    'bundle-unsupported': 'This browser cannot read or make bundle files.',
  },
  ru: {
    bundles: 'Передать посты', 'bundles-text': 'Сохраните свежие посты каналов, на которые вы подписаны, в файл и отправьте его на другой телефон (Bluetooth, мессенджер) или откройте присланный файл. Каждый пост проверяется, прежде чем сохраниться.',
    'bundle-export': 'Сохранить подписки в файл', 'bundle-import': 'Открыть файл',
    'bundle-nothing': 'Сначала подпишитесь на канал и откройте его: сохранять пока нечего.',
    'bundle-made': 'Файл готов: событий {n}, {kb} КБ.', 'bundle-download': 'Скачать {name}',
    'bundle-progress': 'Проверка… верных {valid}, неверных {invalid}, прочитано {read}.',
    'bundle-imported': 'Импортировано событий: {valid}; отброшено неверных: {invalid}; нечитаемых: {damaged}.',
    'bundle-unsupported': 'Этот браузер не умеет читать и создавать файлы пакетов.',
  },
  be: {
    bundles: 'Перадаць допісы', 'bundles-text': 'Захавайце свежыя допісы каналаў, на якія вы падпісаныя, у файл і дашліце яго на іншы тэлефон (Bluetooth, месенджар) або адкрыйце дасланы файл. Кожны допіс правяраецца, перш чым захавацца.',
    'bundle-export': 'Захаваць падпіскі ў файл', 'bundle-import': 'Адкрыць файл',
    'bundle-nothing': 'Спачатку падпішыцеся на канал і адкрыйце яго: захоўваць пакуль няма чаго.',
    'bundle-made': 'Файл гатовы: падзей {n}, {kb} КБ.', 'bundle-download': 'Спампаваць {name}',
    'bundle-progress': 'Праверка… правільных {valid}, няправільных {invalid}, прачытана {read}.',
    'bundle-imported': 'Імпартавана падзей: {valid}; адкінута няправільных: {invalid}; нечытэльных: {damaged}.',
    'bundle-unsupported': 'Гэты браўзер не ўмее чытаць і ствараць файлы пакетаў.',
  },
};
