// Loads /extras.js (keys, signatures, QR codes) once, on first use. The service worker keeps it for offline use.
let loading = null;

export function extras() {
  if (self.samizdatExtras) return Promise.resolve(self.samizdatExtras);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/extras.js';
      script.onload = () => resolve(self.samizdatExtras);
      script.onerror = () => {
        loading = null;
        script.remove();
        reject(new Error('offline'));
      };
      document.head.appendChild(script);
    });
  }
  return loading;
}
