// The QR decoder (npm jsqr), a file of its own (/qr-read.js) loaded only when a reader scans a code on a browser
// without BarcodeDetector: most readers never download it.
import jsQR from 'jsqr';

self.samizdatQr = {
  /** The text of the QR code in an ImageData, or null. */
  decode(image) {
    const found = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
    return found ? found.data : null;
  },
};
