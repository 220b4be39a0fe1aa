// The English words only the screens in /screens.js use (screens.js hands them to i18n.js when it arrives). Run
// as it is (web/test under Node) this is empty, since i18n-en.js then has all the words; the build (build.mjs)
// puts here the words it took out of the page's.
export default {};
