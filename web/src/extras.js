// The second bundle (/extras.js), loaded only when needed: keys, signing, NIP-19 names and QR codes. Reading
// channels needs none of it, so a first visit over a slow hotspot downloads less before it is usable.
import * as nostr from './nostr.js';
import * as recovery from './recovery.js';
import qrcode from 'qrcode-generator';

function qrDataUrl(text, cell = 4) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  return qr.createDataURL(cell, 8);
}

// recovery.js judges seizure claims, whose proofs need signatures checked: here with the crypto, off the page.
self.samizdatExtras = { ...nostr, qrDataUrl, recovery };
