/**
 * Why: a backend that refuses an upgrade (401, 404, 426 ...) is heard by the client as a normal HTTP response,
 * relayed to its last byte; the connection then closes and never becomes a tunnel (CVE-2019-17567).
 */

import type { Duplex } from 'node:stream';
import { ChunkedDecoder } from './chunked-decoder.ts';
import { relayedResponseHead } from './http-responses.ts';
import { headerValues, type ResponseHead } from './response-head.ts';

/** How the relayed body ends (RFC 9112 6.3). */
export type BodyFraming =
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

/** The framing of a non-101 response's body; a string is the reason the head is unusable. */
export function bodyFraming(head: ResponseHead): BodyFraming | string {
  if (head.status === 204 || head.status === 304) return { kind: 'length', length: 0 };
  const codings = headerValues(head, 'transfer-encoding');
  if (codings.length > 0) {
    const last = codings.join(',').split(',').at(-1)!.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const lengths = new Set(
    headerValues(head, 'content-length').flatMap((v) => v.split(',').map((s) => s.trim())),
  );
  if (lengths.size === 0) return { kind: 'close' };
  const [only] = lengths;
  if (lengths.size > 1 || !/^\d{1,15}$/.test(only!)) return 'invalid Content-Length';
  return { kind: 'length', length: Number(only) };
}

/** Streams one response body from the backend to the client, stopping exactly at its end. */
export class BodyRelay {
  readonly #client: Duplex;
  readonly #decoder: ChunkedDecoder | undefined;
  #remaining: number;
  /** Whether the backend closing the connection is the body's normal end. */
  readonly endsAtClose: boolean;

  /** Writes the response head to `client`; then feed body bytes with {@link BodyRelay.push}. */
  constructor(client: Duplex, head: ResponseHead, framing: BodyFraming) {
    this.#client = client;
    this.#decoder = framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
    this.#remaining = framing.kind === 'length' ? framing.length : Number.POSITIVE_INFINITY;
    this.endsAtClose = framing.kind === 'close';
    // 204 and 304 have no body and must not advertise one (RFC 9110 8.6).
    const noBody = head.status === 204 || head.status === 304;
    const advertised = framing.kind === 'length' && !noBody ? framing.length : undefined;
    client.write(relayedResponseHead(head, advertised), 'latin1');
  }

  /** Whether the whole body has been relayed. */
  get complete(): boolean {
    return this.#decoder === undefined ? this.#remaining === 0 : this.#decoder.done;
  }

  /** Relays a chunk of body bytes; returns `false` when the client wants the source paused. Throws on bad framing. */
  push(chunk: Buffer): boolean {
    let writable = true;
    if (this.#decoder !== undefined) {
      for (const part of this.#decoder.push(chunk)) writable = this.#client.write(part);
      return writable;
    }
    if (this.#remaining === 0) return true;
    const part = chunk.length > this.#remaining ? chunk.subarray(0, this.#remaining) : chunk;
    this.#remaining -= part.length;
    return this.#client.write(part);
  }
}
