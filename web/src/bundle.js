// Bundles in the browser: the same `.smz` files as `samizdat export` / `samizdat import` (docs/bundle-format.md,
// version 1), written and read here with CompressionStream / DecompressionStream ("deflate-raw"), CRC-32 and
// SHA-256 (@noble/hashes: WebCrypto's subtle API is missing on plain-http pages).
//
// Theory of operation. A part is a 64-byte header, independent blocks (28-byte header + one complete raw deflate
// stream of whole records, one event's JSON and "\n" each) and a 60-byte trailer. BundleReader is a port of
// core/bundle_reader.py with the same two rules:
//   Rule 1: no count read from the file is trusted. A block declaring more than maxBlockBytes, a part expanding
//   past maxContentBytes or past maxRatio:1 once ratioGraceBytes are out is a decompression bomb, refused
//   *before* inflating; and the inflater is read chunk by chunk and stopped as soon as it passes the block's
//   declared length, so a block lying about its size cannot expand further. Memory: one block.
//   Rule 2: damage is counted, hostility is refused. A damaged block loses its records and the reader resyncs on
//   the next block magic; a truncated file keeps what was read. Only a file that is not a bundle, another
//   version, an incomplete header or a broken limit throws BundleError (events handed out before stay valid).
// Nothing here verifies signatures: verify-worker.js does, for every record, before anything is kept.

import { sha256 } from '@noble/hashes/sha2.js';

export const MAGIC = 'SMZDBNDL';
const BLOCK_MAGIC = [0x53, 0x4d, 0x5a, 0x42]; // SMZB
const TRAILER_MAGIC = [0x53, 0x4d, 0x5a, 0x45]; // SMZE
export const HEADER_SIZE = 64;
const BLOCK_HEADER_SIZE = 28;
const TRAILER_SIZE = 60;
const FLAG_COUNTS = 1;
const BLOCK_BYTES = 64 * 1024;
const MAX_PROBLEMS_KEPT = 20;

/** The reader's limits: the node's defaults (core/bundle.py BundleLimits). */
export const LIMITS = Object.freeze({
  maxContentBytes: 1024 * 1024 * 1024,
  maxRatio: 100,
  ratioGraceBytes: 1024 * 1024,
  maxRecordBytes: 512 * 1024,
  maxBlockBytes: 1024 * 1024,
  maxEvents: 1000000,
  maxProblems: 10000,
});

export class BundleError extends Error {}

export const supported = () => typeof CompressionStream === 'function' && typeof DecompressionStream === 'function';

// -- CRC-32 (IEEE, as zlib.crc32) --------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const deflateBound = (size) => size + Math.floor(size / 4096) + Math.floor(size / 16384) + Math.floor(size / 33554432) + 32;

function u64(view, at) {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

function setU64(view, at, value) {
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}

function concat(parts, total) {
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Raw-inflate `payload`, reading the output chunk by chunk: null when it is not a complete deflate stream of
 * exactly `expected` bytes (the inflater is cancelled as soon as it passes `expected`). */
async function inflate(payload, expected) {
  const stream = new Blob([payload]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > expected) {
        reader.cancel().catch(() => {});
        return null;
      }
      parts.push(value);
    }
  } catch {
    return null; // not deflate, cut short, or junk after the end of the stream
  }
  return total === expected ? concat(parts, total) : null;
}

async function deflate(content) {
  const stream = new Blob([content]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// -- writing -----------------------------------------------------------------------------------------------------

function header({ part = 1, total = 1, id, createdAt, events, contentBytes }) {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  bytes[8] = 1;
  bytes[9] = FLAG_COUNTS;
  view.setUint32(12, part);
  view.setUint32(16, total);
  bytes.set(id, 20);
  setU64(view, 36, events);
  setU64(view, 44, contentBytes);
  setU64(view, 52, createdAt);
  view.setUint32(60, crc32(bytes.subarray(0, 60)));
  return bytes;
}

async function block(index, records) {
  const content = concat(records);
  const payload = await deflate(content);
  const head = new Uint8Array(BLOCK_HEADER_SIZE);
  const view = new DataView(head.buffer);
  head.set(BLOCK_MAGIC, 0);
  view.setUint32(4, index);
  view.setUint32(8, records.length);
  view.setUint32(12, content.length);
  view.setUint32(16, payload.length);
  view.setUint32(20, crc32(payload));
  view.setUint32(24, crc32(head.subarray(0, 24)));
  return [head, payload];
}

/** The events (objects {id, pubkey, created_at, kind, tags, content, sig}) as one bundle part: a Blob. Records
 * longer than the reader's maxRecordBytes are left out. `now`: unix seconds. */
export async function writeBundle(events, now = Math.floor(Date.now() / 1000)) {
  const encoder = new TextEncoder();
  const hash = sha256.create();
  const parts = [];
  let pending = [], pendingBytes = 0, blocks = 0, count = 0, contentBytes = 0;
  const flush = async () => {
    if (!pending.length) return;
    parts.push(...(await block(blocks++, pending)));
    pending = [];
    pendingBytes = 0;
  };
  for (const e of events) {
    const { id, pubkey, created_at, kind, tags, content, sig } = e;
    const record = encoder.encode(JSON.stringify({ id, pubkey, created_at, kind, tags, content, sig }) + '\n');
    if (record.length > LIMITS.maxRecordBytes) continue;
    pending.push(record);
    pendingBytes += record.length;
    count++;
    contentBytes += record.length;
    hash.update(record);
    if (pendingBytes >= BLOCK_BYTES) await flush();
  }
  await flush();
  const trailer = new Uint8Array(TRAILER_SIZE);
  const view = new DataView(trailer.buffer);
  trailer.set(TRAILER_MAGIC, 0);
  view.setUint32(4, blocks);
  setU64(view, 8, count);
  setU64(view, 16, contentBytes);
  trailer.set(hash.digest(), 24);
  view.setUint32(56, crc32(trailer.subarray(0, 56)));
  const id = crypto.getRandomValues(new Uint8Array(16));
  void now; // the header's "created at" stays 0: a file on a stick should not date its courier's trip
  return new Blob([header({ id, createdAt: 0, events: count, contentBytes }), ...parts, trailer],
    { type: 'application/octet-stream' });
}

// -- reading -----------------------------------------------------------------------------------------------------

const HEAD = 0, SYNC = 1, SCAN = 2, END = 3;

function startsWith(buf, pos, magic) {
  for (let i = 0; i < magic.length; i++) if (buf[pos + i] !== magic[i]) return false;
  return true;
}

/** One bundle part, fed in chunks of any size (feed() and close() resolve to items: {event} for a record that is
 * a JSON object, not yet verified, or {damaged: records, reason}); summary() at the end. */
export class BundleReader {
  constructor(limits = LIMITS) {
    this.limits = limits;
    this.buf = new Uint8Array(0);
    this.pos = 0;
    this.offset = 0; // file offset of buf[0]
    this.state = HEAD;
    this.need = HEADER_SIZE;
    this.fileBytes = 0;
    this.header = null;
    this.headerOk = false;
    this.nextBlock = 0;
    this.blocksOk = true;
    this.records = 0;
    this.malformed = 0;
    this.lost = 0;
    this.content = 0;
    this.checked = 0; // payload bytes checked (CRC), intact or not
    this.furthest = 0; // the end, in the file, of the furthest block checked
    this.inflated = 0; // bytes declared by every block inflated, whether it turned out intact or not
    this.damagedBytes = 0;
    this.hash = sha256.create();
    this.trailerOk = false;
    this.trailerEvents = 0;
    this.problems = [];
    this.problemCount = 0;
    this.closed = false;
    this.decoder = new TextDecoder('utf-8', { fatal: true });
  }

  async feed(chunk) {
    this.fileBytes += chunk.length;
    const left = this.buf.subarray(this.pos);
    const next = new Uint8Array(left.length + chunk.length);
    next.set(left, 0);
    next.set(chunk, left.length);
    this.offset += this.pos;
    this.buf = next;
    this.pos = 0;
    const out = [];
    await this.run(out);
    return out;
  }

  close() {
    this.closed = true;
    const out = [];
    const left = this.buf.length - this.pos;
    if (this.state === HEAD) {
      if (this.offset + left === 0) throw new BundleError('the file is empty');
      throw new BundleError(`the file is truncated: its header is incomplete (${left} of ${HEADER_SIZE} bytes)`);
    }
    if (this.state === END) {
      if (left) this.damage(0, `${left} unexpected bytes after the end of the bundle`, left);
      return out;
    }
    const reason = this.state === SYNC && left ? 'the file is truncated in the middle of a block'
      : 'the file is truncated: the end of the bundle is missing';
    this.damage(0, reason, left);
    out.push({ damaged: 0, reason });
    return out;
  }

  summary() {
    let expected = null;
    if (this.trailerOk) expected = this.trailerEvents;
    else if (this.header && this.header.events !== null) expected = this.header.events;
    const lost = expected !== null && this.closed ? Math.max(this.lost, expected - this.records) : this.lost;
    return {
      records: this.records, malformed: this.malformed, lost, damagedBytes: this.damagedBytes,
      complete: this.headerOk && this.blocksOk && this.trailerOk && this.problemCount === 0 && this.closed,
      problems: this.problems.slice(),
    };
  }

  damage(records, reason, skipped = 0) {
    this.lost += records;
    this.damagedBytes += skipped;
    this.problemCount++;
    if (this.problemCount > this.limits.maxProblems) {
      throw new BundleError(`the file is too damaged to read (more than ${this.limits.maxProblems} problems)`);
    }
    if (this.problems.length < MAX_PROBLEMS_KEPT) this.problems.push(reason);
  }

  async run(out) {
    for (;;) {
      const available = this.buf.length - this.pos;
      if (this.state === HEAD) {
        const magic = new TextEncoder().encode(MAGIC);
        for (let i = 0; i < Math.min(available, magic.length); i++) {
          if (this.buf[i] !== magic[i]) throw new BundleError('this is not a Samizdat bundle (wrong magic bytes)');
        }
        if (available < HEADER_SIZE) return;
        this.readHeader();
      } else if (this.state === END) {
        return;
      } else if (this.state === SCAN) {
        if (!this.scan()) return;
      } else {
        if (available < this.need) return;
        if (!(await this.readUnit(out))) return;
      }
    }
  }

  readHeader() {
    const raw = this.buf.subarray(0, HEADER_SIZE);
    const view = new DataView(raw.buffer, raw.byteOffset, HEADER_SIZE);
    const version = raw[8], flags = raw[9];
    if (version !== 1) throw new BundleError(`bundle format version ${version} is not supported (this app reads version 1)`);
    this.pos = HEADER_SIZE;
    this.state = SYNC;
    this.need = 4;
    if (view.getUint32(60) !== crc32(raw.subarray(0, 60))) {
      this.damage(0, 'the bundle header is damaged; its part number and counts are unknown');
      return;
    }
    if (flags & ~FLAG_COUNTS) {
      throw new BundleError(`the bundle uses features this app does not understand (flags 0x${flags.toString(16).padStart(2, '0')})`);
    }
    const counted = Boolean(flags & FLAG_COUNTS);
    const events = u64(view, 36), content = u64(view, 44);
    if (counted && (events > this.limits.maxEvents || content > this.limits.maxContentBytes)) {
      throw new BundleError(`the bundle holds ${events} events in ${content} bytes, more than this app accepts in one part`);
    }
    const part = view.getUint32(12), total = view.getUint32(16);
    this.header = { part, total, createdAt: u64(view, 52), events: counted ? events : null };
    this.headerOk = part >= 1 && (total === 0 || part <= total);
    if (!this.headerOk) this.damage(0, `the bundle header says part ${part} of ${total}`);
  }

  scan() {
    const buf = this.buf;
    for (let i = this.pos; i + 4 <= buf.length; i++) {
      if (buf[i] === 0x53 && buf[i + 1] === 0x4d && buf[i + 2] === 0x5a && (buf[i + 3] === 0x42 || buf[i + 3] === 0x45)) {
        this.damagedBytes += i - this.pos;
        this.pos = i;
        this.state = SYNC;
        this.need = 4;
        return true;
      }
    }
    const keep = Math.min(buf.length - this.pos, 3);
    const skip = buf.length - this.pos - keep;
    this.damagedBytes += skip;
    this.pos += skip;
    return false;
  }

  loseSync(records, reason, out) {
    this.blocksOk = false;
    this.damage(records, reason, 1);
    out.push({ damaged: records, reason });
    this.pos += 1;
    this.state = SCAN;
  }

  async readUnit(out) {
    const buf = this.buf, pos = this.pos;
    if (startsWith(buf, pos, TRAILER_MAGIC)) {
      if (this.need < TRAILER_SIZE) {
        this.need = TRAILER_SIZE;
        return true;
      }
      this.readTrailer(out);
      return true;
    }
    if (!startsWith(buf, pos, BLOCK_MAGIC)) {
      this.loseSync(0, `unreadable data at byte ${this.offset + pos}`, out);
      return true;
    }
    if (this.need < BLOCK_HEADER_SIZE) {
      this.need = BLOCK_HEADER_SIZE;
      return true;
    }
    const view = new DataView(buf.buffer, buf.byteOffset + pos, BLOCK_HEADER_SIZE);
    if (view.getUint32(24) !== crc32(buf.subarray(pos, pos + 24))) {
      this.loseSync(0, `a damaged block header at byte ${this.offset + pos}`, out);
      return true;
    }
    const index = view.getUint32(4), records = view.getUint32(8), contentLen = view.getUint32(12);
    const payloadLen = view.getUint32(16), payloadCrc = view.getUint32(20);
    if (contentLen > this.limits.maxBlockBytes) {
      throw new BundleError(`a block declares ${contentLen} bytes, more than the ${this.limits.maxBlockBytes} allowed; `
        + 'the file looks like a decompression bomb');
    }
    if (payloadLen > deflateBound(contentLen)) {
      this.loseSync(records, `block ${index} has inconsistent lengths`, out);
      return true;
    }
    const total = BLOCK_HEADER_SIZE + payloadLen;
    if (this.need < total) {
      this.need = total;
      if (buf.length - pos < total) return false;
    }
    this.need = 4;
    this.checkWork(payloadLen, this.offset + pos + total);
    const payload = buf.slice(pos + BLOCK_HEADER_SIZE, pos + total);
    if (crc32(payload) !== payloadCrc) {
      this.loseSync(records, `block ${index} is damaged; its ${records} events are lost`, out);
      return true;
    }
    this.checkExpansion(contentLen, this.offset + pos + total);
    const content = await inflate(payload, contentLen);
    if (content === null) {
      this.loseSync(records, `block ${index} does not decompress; its ${records} events are lost`, out);
      return true;
    }
    this.pos = pos + total;
    if (index !== this.nextBlock) {
      this.blocksOk = false;
      const reason = index > this.nextBlock ? `blocks ${this.nextBlock} to ${index - 1} are missing` : `block ${index} is out of order`;
      this.damage(0, reason);
      out.push({ damaged: 0, reason });
    }
    this.nextBlock = index + 1;
    this.content += contentLen;
    this.hash.update(content);
    this.splitRecords(content, records, index, out);
    return true;
  }

  // Blocks lie one after another, so the payloads checked add up to at most the end of the furthest block checked
  // (end: where this one ends in the file). Block headers placed inside one another's payloads would have every
  // resync check a large payload again (a file of a megabyte costing minutes): past twice that, the file is
  // refused. Measured against the file's blocks, not the bytes read so far: read whole or in pieces, the same answer.
  checkWork(payloadLen, end) {
    this.checked += payloadLen;
    this.furthest = Math.max(this.furthest, end);
    if (this.checked > 2 * this.furthest + BLOCK_HEADER_SIZE) {
      throw new BundleError('the file is too damaged to read (its blocks overlap one another)');
    }
  }

  // Declared sizes against the limits, before inflating. The ratio counts every block inflated, also those that
  // then turn out not to be intact (each costs its declared size all the same).
  checkExpansion(contentLen, fileBytes) {
    const expanded = this.content + contentLen;
    if (expanded > this.limits.maxContentBytes) {
      throw new BundleError(`the bundle expands to more than ${this.limits.maxContentBytes} bytes; `
        + 'it looks like a decompression bomb or is too large for this app');
    }
    const inflated = this.inflated + contentLen;
    if (inflated > this.limits.ratioGraceBytes && inflated > this.limits.maxRatio * fileBytes) {
      throw new BundleError(`the bundle expands more than ${this.limits.maxRatio}:1; it looks like a decompression bomb`);
    }
    this.inflated = inflated;
  }

  splitRecords(content, declared, index, out) {
    const lines = [];
    let start = 0;
    for (let i = 0; i < content.length; i++) {
      if (content[i] === 0x0a) {
        lines.push(content.subarray(start, i));
        start = i + 1;
      }
    }
    if (start < content.length) {
      this.blocksOk = false;
      this.damage(0, `block ${index} does not end with a newline`);
      lines.push(content.subarray(start));
    }
    if (lines.length !== declared) {
      this.blocksOk = false;
      this.damage(0, `block ${index} holds ${lines.length} records but says ${declared}`);
    }
    for (const line of lines) {
      this.records++;
      if (this.records > this.limits.maxEvents) throw new BundleError(`the bundle holds more than ${this.limits.maxEvents} events in one part`);
      if (line.length + 1 > this.limits.maxRecordBytes) {
        this.malformedRecord(`a record of ${line.length + 1} bytes is longer than ${this.limits.maxRecordBytes}`, out);
        continue;
      }
      if (line[0] !== 0x7b) {
        this.malformedRecord('a record is not a JSON object', out);
        continue;
      }
      let value;
      try {
        value = JSON.parse(this.decoder.decode(line));
      } catch {
        this.malformedRecord('a record is not valid JSON', out);
        continue;
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        this.malformedRecord('a record is not a JSON object', out);
        continue;
      }
      out.push({ event: value });
    }
  }

  malformedRecord(reason, out) {
    this.malformed++;
    this.damage(0, reason);
    out.push({ damaged: 1, reason });
  }

  readTrailer(out) {
    const buf = this.buf, pos = this.pos;
    const view = new DataView(buf.buffer, buf.byteOffset + pos, TRAILER_SIZE);
    if (view.getUint32(56) !== crc32(buf.subarray(pos, pos + 56))) {
      this.need = 4;
      this.loseSync(0, `a damaged trailer at byte ${this.offset + pos}`, out);
      return;
    }
    const blocks = view.getUint32(4), events = u64(view, 8), content = u64(view, 16);
    const digest = buf.subarray(pos + 24, pos + 56);
    this.pos = pos + TRAILER_SIZE;
    this.state = END;
    this.trailerOk = true;
    this.trailerEvents = events;
    const mine = this.hash.digest();
    const same = mine.every((b, i) => b === digest[i]);
    if (blocks !== this.nextBlock || events !== this.records || content !== this.content || !same) {
      this.blocksOk = false;
      const reason = `the trailer says ${events} events in ${blocks} blocks; ${this.records} were read`;
      this.damage(0, reason);
      out.push({ damaged: 0, reason });
    }
  }
}
