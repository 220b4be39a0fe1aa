// A QR code as an <img> with a data: URL (allowed by the CSP's img-src), drawn by qrcode-generator.
import qrcode from 'qrcode-generator';
import { h } from '../dom.js';

export function qrImage(text, cell = 4) {
  try {
    const qr = qrcode(0, 'M');
    qr.addData(text);
    qr.make();
    return h('img', { class: 'qr', alt: 'QR', src: qr.createDataURL(cell, 8) });
  } catch {
    return null; // too long for a QR code: the text is shown beside it anyway
  }
}
