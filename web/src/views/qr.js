// A QR code as an <img> with a data: URL (allowed by the CSP's img-src), drawn by qrcode-generator once the
// extras bundle is there.
import { h } from '../dom.js';
import { extras } from '../lazy.js';

export function qrImage(text, cell = 4) {
  const img = h('img', { class: 'qr', alt: 'QR' });
  extras().then((x) => {
    try {
      img.src = x.qrDataUrl(text, cell);
    } catch {
      img.remove(); // too long for a QR code: the text is shown beside it anyway
    }
  }, () => img.remove());
  return img;
}
