// Loads the files of the app that are loaded on use, each once, on first use: /extras.js (keys, signatures, QR
// codes) and /screens.js (the screens not needed on the first screen). The service worker keeps them for offline
// use.
const loading = new Map();

function load(src, global) {
  if (self[global]) return Promise.resolve(self[global]);
  if (!loading.has(src)) {
    loading.set(src, new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => (self[global] ? resolve(self[global]) : script.onerror());
      script.onerror = () => {
        loading.delete(src);
        script.remove();
        reject(new Error('offline'));
      };
      document.head.appendChild(script);
    }));
  }
  return loading.get(src);
}

export function extras() {
  return load('/extras.js', 'samizdatExtras');
}

export function screens() {
  return load(SCREENS_URL, 'samizdatScreens'); // /screens.js?v=<its hash>, set by the build (build.mjs)
}
