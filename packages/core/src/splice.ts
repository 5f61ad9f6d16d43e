/**
 * Why: after the backend's 101 the proxy only moves bytes, with backpressure, half-close forwarding and one
 * idle timer, and tears both sides down exactly once (mod_proxy_http ap_proxy_tunnel_run semantics).
 */

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CloseReason, TunnelStats } from './events.ts';
import { closeFrame, FrameCursor } from './frame-cursor.ts';
import type { Target } from './target.ts';

/** How long peers get to answer injected close frames before their sockets are destroyed. */
const CLOSE_FRAME_GRACE_MS = 1_000;
/** After `proxy-nohalfclose` ended both sides, how long a peer still sending gets before its socket is destroyed. */
const NO_HALF_CLOSE_LINGER_MS = 2_000;
/** How long one side may take to flush a forwarded half-close after the other side closed, when no idle timeout bounds it. */
const HALF_CLOSED_LINGER_MS = 30_000;

/** What a splice needs; counters are the sockets' byte totals when the 101 was about to be written. */
export interface SpliceParams {
  readonly client: Duplex;
  readonly backend: Socket;
  readonly target: Target;
  /** Track frames so `shutdown()` can end with 1001 close frames (WebSocket tunnels with `closeFrames` on). */
  readonly closeFrames: boolean;
  /** Backend bytes that came with the 101, for the client. */
  readonly rest: Buffer;
  /** Client bytes held during the handshake, for the backend. */
  readonly early: readonly Buffer[];
  readonly startedAt: number;
  readonly clientReadBase: number;
  readonly clientWriteBase: number;
  readonly onClosed: (stats: TunnelStats) => void;
}

/** The splice a socket belongs to, so one set of listener functions serves every tunnel (no closures per tunnel). */
const SPLICE: unique symbol = Symbol('wstunnel.splice');
type Spliced = Duplex & { [SPLICE]: Splice };

// The listeners: EventEmitter calls each with `this` set to the socket that emitted.
function onData(this: Spliced, chunk: Buffer): void {
  this[SPLICE].data(this, chunk);
}
function onFrames(this: Spliced, chunk: Buffer): void {
  this[SPLICE].frames(this, chunk);
}
function onDrain(this: Spliced): void {
  this[SPLICE].peer(this).resume();
}
function onEnd(this: Spliced): void {
  this[SPLICE].ended(this);
}
function onError(this: Spliced): void {
  const splice = this[SPLICE];
  splice.destroy(this === splice.client ? 'client-error' : 'backend-error');
}
function onClose(this: Spliced): void {
  this[SPLICE].closed(this);
}
function onIdle(this: Spliced): void {
  this[SPLICE].destroy('idle-timeout');
}
function ignore(): void {}

/**
 * An open tunnel: two sockets joined until both are closed. It keeps nothing from the handshake, and its members
 * other than `shutdown` are the listeners' entry points.
 */
export class Splice {
  readonly client: Spliced;
  readonly backend: Socket & Spliced;
  readonly #target: Target;
  readonly #onClosed: (stats: TunnelStats) => void;
  readonly #startedAt: number;
  readonly #clientReadBase: number;
  readonly #clientWriteBase: number;
  readonly #toBackend: FrameCursor | undefined;
  readonly #toClient: FrameCursor | undefined;
  #reason: CloseReason | undefined;
  #closed = 0;
  #shutdownTimer: NodeJS.Timeout | undefined;

  constructor(params: SpliceParams) {
    const client = params.client as Spliced;
    const backend = params.backend as Socket & Spliced;
    const { target } = params;
    this.client = client;
    this.backend = backend;
    this.#target = target;
    this.#onClosed = params.onClosed;
    this.#startedAt = params.startedAt;
    this.#clientReadBase = params.clientReadBase;
    this.#clientWriteBase = params.clientWriteBase;
    client[SPLICE] = this;
    backend[SPLICE] = this;
    if (params.closeFrames) {
      this.#toBackend = new FrameCursor();
      this.#toClient = new FrameCursor();
      this.#toClient.advance(params.rest, false);
      for (const chunk of params.early) this.#toBackend.advance(chunk, false);
    }
    const forward = params.closeFrames ? onFrames : onData;
    if (params.rest.length > 0) client.write(params.rest);
    for (const chunk of params.early) backend.write(chunk);
    for (const socket of [client, backend]) {
      socket.on('data', forward).on('end', onEnd).on('error', onError).on('close', onClose);
    }
    // The backend socket sees every byte of both directions, so its timer alone is the idle timer.
    if (target.idleTimeout > 0) backend.setTimeout(target.idleTimeout).on('timeout', onIdle);
    if (target.keepAlive !== false) {
      backend.setKeepAlive(true, target.keepAlive);
      (client as unknown as Partial<Socket>).setKeepAlive?.(true, target.keepAlive);
    }
    (client as unknown as Partial<Socket>).setNoDelay?.(true);
    client.resume();
  }

  /** Ends the tunnel for a shutdown: with close frames at the next frame boundary, otherwise at once. */
  shutdown(): void {
    if (this.#toBackend === undefined || this.#toClient === undefined) return this.destroy('shutdown');
    if (this.#shutdownTimer !== undefined) return;
    this.#shutdownTimer = setTimeout(() => this.destroy('shutdown'), CLOSE_FRAME_GRACE_MS);
    this.#reason = 'shutdown';
    const { client, backend } = this;
    // A direction already half-closed by a FIN gets no frame: its sink is ended.
    if (this.#toBackend.atBoundary || backend.writableEnded) this.#stop(backend, client, true);
    if (this.#toClient.atBoundary || client.writableEnded) this.#stop(client, backend, false);
  }

  /** The other side of `socket`. */
  peer(socket: Duplex): Duplex {
    return socket === this.client ? this.backend : this.client;
  }

  data(source: Duplex, chunk: Buffer): void {
    const sink = source === this.client ? this.backend : this.client;
    if (!sink.write(chunk)) wait(sink, source);
  }

  frames(source: Duplex, chunk: Buffer): void {
    const fromClient = source === this.client;
    const sink = fromClient ? this.backend : this.client;
    const cursor = (fromClient ? this.#toBackend : this.#toClient)!;
    if (this.#shutdownTimer === undefined) {
      cursor.advance(chunk, false);
      if (!sink.write(chunk)) wait(sink, source);
      return;
    }
    if (sink.writableEnded) return;
    const upTo = cursor.advance(chunk, true);
    // Until the frame in flight is complete, this direction keeps its backpressure.
    if (upTo > 0 && !sink.write(chunk.subarray(0, upTo))) wait(sink, source);
    if (cursor.atBoundary) this.#stop(sink, source, fromClient);
  }

  /** Sends a 1001 close frame to `sink` and ends it; what `source` still sends that way is read and dropped. */
  #stop(sink: Duplex, source: Duplex, masked: boolean): void {
    if (!sink.writableEnded) sink.end(closeFrame(masked));
    // Keep reading the source so its FIN is seen.
    source.resume();
  }

  ended(source: Duplex): void {
    this.#reason ??= source === this.client ? 'client-closed' : 'backend-closed';
    if (this.#target.halfClose) this.peer(source).end();
    else this.#endBoth();
  }

  /**
   * Apache `proxy-nohalfclose`: the first EOF ends both directions once pending bytes are flushed; bytes that
   * arrive after it are dropped instead of being written into an ended socket.
   */
  #endBoth(): void {
    for (const socket of [this.client, this.backend]) {
      socket.off('data', onData).off('data', onFrames).on('data', ignore);
      // Lingering close: closing at once would answer bytes still arriving with a RST that loses what is in flight.
      socket.once('finish', () => setTimeout(() => socket.destroy(), NO_HALF_CLOSE_LINGER_MS).unref());
      socket.resume();
      socket.end();
    }
  }

  /** One side is closed: the other follows, unless it is already finishing a forwarded half-close. */
  closed(socket: Duplex): void {
    this.#reason ??= socket === this.client ? 'client-closed' : 'backend-closed';
    const other = this.peer(socket);
    if (!other.destroyed) {
      if (!other.writableEnded) other.destroy();
      else setTimeout(() => other.destroy(), this.#target.idleTimeout || HALF_CLOSED_LINGER_MS).unref();
    }
    if (++this.#closed < 2) return;
    clearTimeout(this.#shutdownTimer);
    const client = this.client as unknown as Partial<Socket>;
    this.#onClosed({
      bytesFromClient: (client.bytesRead ?? this.#clientReadBase) - this.#clientReadBase,
      bytesToClient: (client.bytesWritten ?? this.#clientWriteBase) - this.#clientWriteBase,
      durationMs: Date.now() - this.#startedAt,
      reason: this.#reason,
    });
  }

  destroy(reason: CloseReason): void {
    this.#reason ??= reason;
    this.client.destroy();
    this.backend.destroy();
  }
}

/** Backpressure: `source` pauses until `sink` drains; the 'drain' listener exists only while it waits. */
function wait(sink: Duplex, source: Duplex): void {
  if (source.isPaused()) return;
  source.pause();
  sink.once('drain', onDrain);
}
