/** Why: a refused handshake's chunked body must be relayed to its end, no further, so the backend connection can be closed at the right byte (RFC 9112 7.1). */

/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4096;

const SIZE = 0;
const DATA = 1;
const DATA_END = 2;
const TRAILER = 3;
const DONE = 4;

/** Incremental decoder of `Transfer-Encoding: chunked`; strips framing, extensions and trailers. */
export class ChunkedDecoder {
  #state = SIZE;
  #line = '';
  #remaining = 0;

  /** Whether the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Decodes `input`, returning the body bytes it held; throws on malformed framing. Bytes after the end are ignored. */
  push(input: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < input.length && this.#state !== DONE) {
      if (this.#state === DATA) {
        const take = Math.min(this.#remaining, input.length - i);
        out.push(input.subarray(i, i + take));
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = DATA_END;
        continue;
      }
      const byte = input[i++]!;
      if (byte !== 0x0a) {
        this.#line += String.fromCharCode(byte);
        if (this.#line.length > MAX_LINE) throw new Error('chunked framing line too long');
        continue;
      }
      const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
      this.#line = '';
      this.#endLine(line);
    }
    return out;
  }

  #endLine(line: string): void {
    if (this.#state === DATA_END) {
      if (line !== '') throw new Error('chunk data not followed by CRLF');
      this.#state = SIZE;
    } else if (this.#state === SIZE) {
      const size = /^([0-9a-fA-F]{1,8})[\t ]*(?:;.*)?$/.exec(line);
      if (size === null) throw new Error('malformed chunk size');
      this.#remaining = Number.parseInt(size[1]!, 16);
      this.#state = this.#remaining === 0 ? TRAILER : DATA;
    } else if (line === '') {
      this.#state = DONE;
    }
  }
}
