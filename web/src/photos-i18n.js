// The photo screens' words (photos.js, views/photos.js, views/nearby.js) in be, ru and en, merged into the app's
// tables (i18n-tables.js) like the reader's and places' words.

const en = {
  'photos-add': 'Add photos', photo: 'Photo', 'photo-alt': 'Describe the photo (for blind readers and slow links)',
  'photo-remove': 'Remove', 'photo-preparing': 'Preparing the photo on this phone…', 'photo-checking': 'The node is blurring faces…',
  'photo-ready': 'Faces found and blurred: {n}. Tap a spot on the picture to blur it too.',
  'photo-unreadable': 'This browser cannot open this picture (HEIC from an iPhone? Choose “Most compatible” in the camera settings, or send a screenshot).',
  'photo-not-ready': 'A photo is not ready yet: wait for it, or remove it.', 'photo-failed': 'This photo cannot be used: {reason}',
  'photo-uploading': 'Uploading photo {i} of {n}…', 'photo-too-many': 'At most {n} photos per post.',
  'photo-no-alt': 'Photo without a description', 'photo-tap': 'Tap to load the photo ({kb} KB)', 'photo-unavailable': 'The photo is not available here.',
  'data-saver': 'Data saver: load full-size photos only when I tap them', 'nearby': 'Alerts and safe places by distance',
  'nearby-from': 'Distance from', 'nearby-geohash': 'or a geohash', 'nearby-none': 'No alert or safe place of this channel has coordinates.',
  'nearby-note': 'Worked out on this phone: the point you pick is not sent anywhere.', 'km': '{n} km', 'nearby-here': 'this channel’s place',
};
const ru = {
  'photos-add': 'Добавить фото', photo: 'Фото', 'photo-alt': 'Опишите фото (для незрячих и медленной связи)',
  'photo-remove': 'Убрать', 'photo-preparing': 'Фото готовится на этом телефоне…', 'photo-checking': 'Узел размывает лица…',
  'photo-ready': 'Найдено и размыто лиц: {n}. Нажмите на место снимка, чтобы размыть и его.',
  'photo-unreadable': 'Этот браузер не может открыть снимок (HEIC с iPhone? Выберите «Наиболее совместимый» в настройках камеры или пришлите скриншот).',
  'photo-not-ready': 'Фото ещё не готово: подождите или уберите его.', 'photo-failed': 'Это фото нельзя использовать: {reason}',
  'photo-uploading': 'Загрузка фото {i} из {n}…', 'photo-too-many': 'Не больше {n} фото в посте.',
  'photo-no-alt': 'Фото без описания', 'photo-tap': 'Нажмите, чтобы загрузить фото ({kb} КБ)', 'photo-unavailable': 'Фото здесь недоступно.',
  'data-saver': 'Экономия трафика: полные фото только по нажатию', 'nearby': 'Тревоги и безопасные места по расстоянию',
  'nearby-from': 'Расстояние от', 'nearby-geohash': 'или геохеш', 'nearby-none': 'Ни у одной тревоги или безопасного места этого канала нет координат.',
  'nearby-note': 'Считается на этом телефоне: выбранная точка никуда не отправляется.', 'km': '{n} км', 'nearby-here': 'место этого канала',
};
const be = {
  'photos-add': 'Дадаць фота', photo: 'Фота', 'photo-alt': 'Апішыце фота (для незрачых і павольнай сувязі)',
  'photo-remove': 'Прыбраць', 'photo-preparing': 'Фота рыхтуецца на гэтым тэлефоне…', 'photo-checking': 'Вузел размывае твары…',
  'photo-ready': 'Знойдзена і размыта твараў: {n}. Націсніце на месца здымка, каб размыць і яго.',
  'photo-unreadable': 'Гэты браўзер не можа адкрыць здымак (HEIC з iPhone? Выберыце «Найбольш сумяшчальны» ў наладах камеры або дашліце скрыншот).',
  'photo-not-ready': 'Фота яшчэ не гатовае: пачакайце або прыбярыце яго.', 'photo-failed': 'Гэтае фота нельга выкарыстаць: {reason}',
  'photo-uploading': 'Загрузка фота {i} з {n}…', 'photo-too-many': 'Не больш за {n} фота ў допісе.',
  'photo-no-alt': 'Фота без апісання', 'photo-tap': 'Націсніце, каб загрузіць фота ({kb} КБ)', 'photo-unavailable': 'Фота тут недаступнае.',
  'data-saver': 'Эканомія трафіку: поўныя фота толькі па націску', 'nearby': 'Трывогі і бяспечныя месцы па адлегласці',
  'nearby-from': 'Адлегласць ад', 'nearby-geohash': 'або геахэш', 'nearby-none': 'Ні ў адной трывогі ці бяспечнага месца гэтага канала няма каардынат.',
  'nearby-note': 'Лічыцца на гэтым тэлефоне: выбраная кропка нікуды не адпраўляецца.', 'km': '{n} км', 'nearby-here': 'месца гэтага канала',
};

export const PHOTOS = { en, ru, be };
