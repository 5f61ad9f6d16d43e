/**
 * Why: between the client's request and the backend's answer nothing may leak either way. Client bytes are held
 * (never optimistic, RFC 9931), and only a 101 with the requested Upgrade token becomes a tunnel; anything else
 * is relayed as HTTP or answered 502/504 (mod_proxy_http's upgrade path, httpd 2.4.47+).
 */

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { dialBackend } from './backend-dial.ts';
import { type BackendFailure, FAILOVER_KINDS } from './backend-failure.ts';
import { TunnelError, type TunnelErrorCode } from './errors.ts';
import { closeAfter, writeErrorResponse } from './http-responses.ts';
import { BodyRelay, bodyFraming } from './relay-response.ts';
import {
  findHeadEnd,
  headerValues,
  MAX_RESPONSE_HEAD_BYTES,
  parseResponseHead,
  type ResponseHead,
} from './response-head.ts';
import type { Target } from './target.ts';

/** Client bytes held while the backend decides; past this the client is paused (TCP backpressure). */
const MAX_EARLY_BYTES = 64 * 1024;
/** Interim 1xx responses (100, 102, 103) skipped before the final answer. */
const MAX_INTERIM_RESPONSES = 8;

/** What the handshake needs to know. */
export interface HandshakeParams {
  readonly client: Duplex;
  /** Bytes that followed the request head on the client connection. */
  readonly head: Buffer;
  readonly requestHead: string;
  readonly target: Target;
  readonly token: string;
  /**
   * Asked, before anything is sent to the client, whether a failure of this backend is left to the caller (a
   * balancer trying its next member). `true`: nothing is written, and `decided` gets `retry` with the held bytes.
   */
  readonly failover?: ((failure: BackendFailure) => boolean) | undefined;
}

/** How a handshake was decided. */
export type HandshakeResult =
  | {
      readonly kind: 'upgraded';
      readonly backend: Socket;
      readonly response: ResponseHead;
      /** Backend bytes that came with the 101. */
      readonly rest: Buffer;
      /** Client bytes held during the handshake. */
      readonly early: readonly Buffer[];
    }
  | { readonly kind: 'refused'; readonly status: number }
  | { readonly kind: 'failed'; readonly error: TunnelError }
  /** `failover` took the failure: nothing was sent to the client, whose held bytes are `early`. */
  | { readonly kind: 'retry'; readonly failure: BackendFailure; readonly early: readonly Buffer[] };

/** Callbacks of a handshake: `decided` once the outcome is known, `done` once it holds no socket any more. */
export interface HandshakeCallbacks {
  decided(result: HandshakeResult): void;
  /** After `decided`; for a refusal, only when its relay has ended. */
  done(): void;
}

/** One pending upgrade: dials the backend, sends the request, reads the answer and relays a refusal. */
export class Handshake {
  readonly #p: HandshakeParams;
  readonly #on: HandshakeCallbacks;
  readonly #backend: Socket;
  readonly #early: Buffer[] = [];
  #earlyBytes = 0;
  #pending: Buffer | undefined;
  #relay: BodyRelay | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #connected = false;
  #decided = false;
  #done = false;
  #interim = 0;

  constructor(params: HandshakeParams, callbacks: HandshakeCallbacks) {
    this.#p = params;
    this.#on = callbacks;
    const { client, target } = params;
    // Dial first: if it throws, no listener of this handshake is left on the client.
    const backend = dialBackend(target);
    this.#backend = backend;
    if (params.head.length > 0) this.#hold(params.head);
    client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    client.on('error', this.#onClientGone);
    client.on('close', this.#onClientGone);
    backend.setTimeout(target.connectTimeout);
    backend.once(target.secure ? 'secureConnect' : 'connect', this.#onConnect);
    backend.on('data', this.#onBackendData);
    backend.on('end', this.#onBackendEnd);
    backend.on('error', this.#onBackendError);
    backend.on('close', this.#onBackendClose);
    backend.on('timeout', this.#onTimeout);
  }

  /** Shutdown deadline: a pending handshake is answered 503, a refusal still being relayed is cut. */
  abort(): void {
    if (this.#relay !== undefined) this.#cutRelay();
    else this.#fail('ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
  }

  #hold(chunk: Buffer): void {
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > MAX_EARLY_BYTES) this.#p.client.pause();
  }

  #onConnect = (): void => {
    this.#connected = true;
    const { timeout } = this.#p.target;
    this.#backend.setNoDelay(true);
    this.#backend.setTimeout(0);
    // A deadline, not an inactivity timer: a backend dribbling its head byte by byte still gets 504 in time.
    if (timeout > 0) this.#deadline = setTimeout(this.#onTimeout, timeout);
    this.#backend.write(this.#p.requestHead, 'latin1');
  };

  #onClientData = (chunk: Buffer): void => {
    // After a refusal, the client's further bytes are dropped: they must never reach the backend raw.
    if (!this.#decided) this.#hold(chunk);
  };

  /** A FIN before the answer means the client left; after a refusal it is only waiting for the relayed response. */
  #onClientEnd = (): void => {
    if (this.#relay === undefined) this.#onClientGone();
  };

  #onClientGone = (): void => {
    if (this.#relay !== undefined) this.#cutRelay();
    else this.#fail('ERR_WSTUNNEL_CLIENT_GONE', undefined, 'the client left before the backend answered');
  };

  #onBackendData = (chunk: Buffer): void => {
    if (this.#relay !== undefined) return this.#relayBody(chunk);
    if (this.#decided) return;
    const previous = this.#pending?.length ?? 0;
    const buffer = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    // Only the new bytes (and the 3 before them) can complete the blank line: no rescanning from byte 0.
    const end = findHeadEnd(buffer, Math.max(0, previous - 3));
    if (end === -1 || end > MAX_RESPONSE_HEAD_BYTES) {
      if (end === -1 && buffer.length <= MAX_RESPONSE_HEAD_BYTES) this.#pending = buffer;
      else this.#badResponse('response head too large');
      return;
    }
    this.#pending = undefined;
    const response = parseResponseHead(buffer.subarray(0, end));
    const rest = buffer.subarray(end);
    if (typeof response === 'string') return this.#badResponse(response);
    if (response.status < 200 && response.status !== 101) {
      if (++this.#interim > MAX_INTERIM_RESPONSES) return this.#badResponse('too many interim responses');
      if (rest.length > 0) this.#onBackendData(rest);
      return;
    }
    clearTimeout(this.#deadline);
    const { status } = response;
    if (status !== 101 && this.#failover({ kind: 'status', status, detail: `status ${status}` })) return;
    if (status === 101) this.#upgrade(response, rest);
    else this.#refuse(response, rest);
  };

  #upgrade(response: ResponseHead, rest: Buffer): void {
    const upgrade = headerValues(response, 'upgrade');
    if (upgrade.length !== 1 || upgrade[0]!.toLowerCase() !== this.#p.token.toLowerCase()) {
      const got = upgrade.length === 0 ? 'n/a' : JSON.stringify(upgrade.join(', '));
      return this.#badResponse(`101 with unexpected Upgrade: ${got} (expecting ${this.#p.token})`);
    }
    this.#decided = true;
    this.#detach();
    this.#on.decided({ kind: 'upgraded', backend: this.#backend, response, rest, early: this.#early });
    this.#finish();
  }

  #refuse(response: ResponseHead, rest: Buffer): void {
    const framing = bodyFraming(response);
    if (typeof framing === 'string') return this.#badResponse(framing);
    this.#decided = true;
    this.#early.length = 0;
    // The body may trickle; only inactivity ends it from here on (and the drain deadline, through abort()).
    this.#backend.setTimeout(this.#p.target.timeout);
    this.#relay = new BodyRelay(this.#p.client, response, framing);
    this.#on.decided({ kind: 'refused', status: response.status });
    this.#relayBody(rest);
  }

  #relayBody(chunk: Buffer): void {
    const relay = this.#relay!;
    try {
      if (chunk.length > 0 && !relay.push(chunk)) {
        this.#backend.pause();
        this.#p.client.once('drain', () => this.#backend.resume());
      }
    } catch {
      return this.#cutRelay();
    }
    if (relay.complete) this.#endRelay();
  }

  #endRelay(): void {
    this.#backend.destroy();
    closeAfter(this.#p.client, '');
    this.#finish();
  }

  /** The relayed body cannot be completed: reset the client so a close-delimited body does not look whole. */
  #cutRelay(): void {
    // The backend's own 'close' arrives after a completed relay too; that relay must not be reset.
    if (this.#done) return;
    this.#backend.destroy();
    const client = this.#p.client as Partial<Socket> & Duplex;
    if (client.resetAndDestroy !== undefined && !client.destroyed) client.resetAndDestroy();
    else client.destroy();
    this.#finish();
  }

  #onBackendEnd = (): void => {
    if (this.#relay === undefined) return this.#closedEarly();
    // A close-delimited body ends here; any other framing cut short is a truncated response.
    if (this.#relay.endsAtClose) this.#endRelay();
    else this.#cutRelay();
  };

  #onBackendError = (error: Error): void => {
    if (this.#relay !== undefined) return this.#cutRelay();
    if (!this.#connected) {
      const code = (error as NodeJS.ErrnoException).code ?? error.message;
      return this.#fail('ERR_WSTUNNEL_CONNECT', 502, `cannot reach the backend (${code})`, error);
    }
    this.#closedEarly(error);
  };

  #onBackendClose = (): void => {
    if (this.#relay !== undefined) this.#cutRelay();
    else this.#closedEarly();
  };

  #badResponse(detail: string): void {
    this.#fail('ERR_WSTUNNEL_BAD_RESPONSE', 502, 'the backend sent an invalid response', undefined, detail);
  }

  #closedEarly(cause?: Error): void {
    this.#fail(
      'ERR_WSTUNNEL_BACKEND_CLOSED',
      502,
      'the backend closed the connection without answering',
      cause,
    );
  }

  #onTimeout = (): void => {
    if (this.#relay !== undefined) return this.#cutRelay();
    if (!this.#connected)
      this.#fail('ERR_WSTUNNEL_CONNECT_TIMEOUT', 504, 'timed out connecting to the backend');
    else this.#fail('ERR_WSTUNNEL_HANDSHAKE_TIMEOUT', 504, 'timed out waiting for the backend to answer');
  };

  /**
   * Ends the handshake with `status` (or a bare close). The client's body says only what kind of failure it was:
   * `detail` may quote backend bytes, so it goes to the TunnelError (events, logs), never onto the wire.
   */
  #fail(
    code: TunnelErrorCode,
    status: number | undefined,
    message: string,
    cause?: unknown,
    detail?: string,
  ): void {
    if (this.#decided) return;
    const kind = FAILOVER_KINDS[code];
    if (kind !== undefined && this.#failover({ kind, detail: detail ?? message })) return;
    this.#decided = true;
    this.#detach();
    this.#backend.destroy();
    if (status === undefined) this.#p.client.destroy();
    else writeErrorResponse(this.#p.client, status, message);
    const described = detail === undefined ? message : `${message}: ${detail}`;
    this.#on.decided({ kind: 'failed', error: new TunnelError(code, status, described, cause) });
    this.#finish();
  }

  /** Hands a backend failure to the caller when it takes it: nothing has been written to the client yet. */
  #failover(failure: BackendFailure): boolean {
    if (this.#p.failover === undefined || !this.#p.failover(failure)) return false;
    this.#decided = true;
    this.#detach();
    this.#backend.destroy();
    this.#on.decided({ kind: 'retry', failure, early: this.#early });
    this.#finish();
    return true;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#deadline);
    this.#on.done();
  }

  #detach(): void {
    const { client } = this.#p;
    client.off('data', this.#onClientData);
    client.off('end', this.#onClientEnd);
    client.off('close', this.#onClientGone);
    // Keep a no-op error listener: a late client error must never become an uncaught exception.
    client.off('error', this.#onClientGone);
    // Once per socket, not once per balancer attempt.
    if (!client.listeners('error').includes(ignore)) client.on('error', ignore);
    const backend = this.#backend;
    backend.setTimeout(0);
    backend.off('data', this.#onBackendData);
    backend.off('end', this.#onBackendEnd);
    backend.off('close', this.#onBackendClose);
    backend.off('timeout', this.#onTimeout);
    backend.off('error', this.#onBackendError);
    backend.on('error', ignore);
  }
}

function ignore(): void {}
