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

/** An open tunnel: two sockets joined until both are closed. */
export class Splice {
  readonly #p: SpliceParams;
  readonly #toBackend: FrameCursor | undefined;
  readonly #toClient: FrameCursor | undefined;
  #reason: CloseReason | undefined;
  #closed = 0;
  #shutdownTimer: NodeJS.Timeout | undefined;

  constructor(params: SpliceParams) {
    this.#p = params;
    const { client, backend, target } = params;
    if (params.closeFrames) {
      this.#toBackend = new FrameCursor();
      this.#toClient = new FrameCursor();
      this.#toClient.advance(params.rest, false);
      for (const chunk of params.early) this.#toBackend.advance(chunk, false);
      client.on('data', this.#onClientFrames);
      backend.on('data', this.#onBackendFrames);
    } else {
      client.on('data', this.#onClientData);
      backend.on('data', this.#onBackendData);
    }
    if (params.rest.length > 0) client.write(params.rest);
    for (const chunk of params.early) backend.write(chunk);
    client.on('drain', this.#resumeBackend);
    backend.on('drain', this.#resumeClient);
    client.on('end', this.#onClientEnd);
    backend.on('end', this.#onBackendEnd);
    client.on('error', this.#onClientError);
    backend.on('error', this.#onBackendError);
    client.on('close', this.#onClientClose);
    backend.on('close', this.#onBackendClose);
    // The backend socket sees every byte of both directions, so its timer alone is the idle timer.
    if (target.idleTimeout > 0) {
      backend.setTimeout(target.idleTimeout);
      backend.on('timeout', this.#onIdle);
    }
    if (target.keepAlive !== false) {
      backend.setKeepAlive(true, target.keepAlive);
      (client as Partial<Socket>).setKeepAlive?.(true, target.keepAlive);
    }
    (client as Partial<Socket>).setNoDelay?.(true);
    client.resume();
  }

  /** Ends the tunnel for a shutdown: with close frames at the next frame boundary, otherwise at once. */
  shutdown(): void {
    if (this.#toBackend === undefined || this.#toClient === undefined) return this.#destroy('shutdown');
    if (this.#shutdownTimer !== undefined) return;
    this.#shutdownTimer = setTimeout(() => this.#destroy('shutdown'), CLOSE_FRAME_GRACE_MS);
    this.#reason = 'shutdown';
    const { client, backend } = this.#p;
    // A direction already half-closed by a FIN gets no frame: its sink is ended.
    if (this.#toBackend.atBoundary || backend.writableEnded) this.#stop(backend, client, true);
    if (this.#toClient.atBoundary || client.writableEnded) this.#stop(client, backend, false);
  }

  #onClientData = (chunk: Buffer): void => {
    if (!this.#p.backend.write(chunk)) this.#p.client.pause();
  };

  #onBackendData = (chunk: Buffer): void => {
    if (!this.#p.client.write(chunk)) this.#p.backend.pause();
  };

  #onClientFrames = (chunk: Buffer): void => {
    this.#forwardFrames(chunk, this.#toBackend!, this.#p.client, this.#p.backend, true);
  };

  #onBackendFrames = (chunk: Buffer): void => {
    this.#forwardFrames(chunk, this.#toClient!, this.#p.backend, this.#p.client, false);
  };

  #forwardFrames(chunk: Buffer, cursor: FrameCursor, source: Duplex, sink: Duplex, masked: boolean): void {
    if (this.#shutdownTimer === undefined) {
      cursor.advance(chunk, false);
      if (!sink.write(chunk)) source.pause();
      return;
    }
    if (sink.writableEnded) return;
    const upTo = cursor.advance(chunk, true);
    // Until the frame in flight is complete, this direction keeps its backpressure.
    if (upTo > 0 && !sink.write(chunk.subarray(0, upTo))) source.pause();
    if (cursor.atBoundary) this.#stop(sink, source, masked);
  }

  /** Sends a 1001 close frame to `sink` and ends it; what `source` still sends that way is read and dropped. */
  #stop(sink: Duplex, source: Duplex, masked: boolean): void {
    if (!sink.writableEnded) sink.end(closeFrame(masked));
    // Keep reading the source so its FIN is seen.
    source.resume();
  }

  #resumeBackend = (): void => {
    this.#p.backend.resume();
  };

  #resumeClient = (): void => {
    this.#p.client.resume();
  };

  #onClientEnd = (): void => {
    this.#reason ??= 'client-closed';
    if (this.#p.target.halfClose) this.#p.backend.end();
    else this.#endBoth();
  };

  #onBackendEnd = (): void => {
    this.#reason ??= 'backend-closed';
    if (this.#p.target.halfClose) this.#p.client.end();
    else this.#endBoth();
  };

  /**
   * Apache `proxy-nohalfclose`: the first EOF ends both directions once pending bytes are flushed; bytes that
   * arrive after it are dropped instead of being written into an ended socket.
   */
  #endBoth(): void {
    for (const [socket, forward, forwardFrames] of [
      [this.#p.client, this.#onClientData, this.#onClientFrames],
      [this.#p.backend, this.#onBackendData, this.#onBackendFrames],
    ] as const) {
      socket.off('data', forward).off('data', forwardFrames).on('data', ignore);
      // Lingering close: closing at once would answer bytes still arriving with a RST that loses what is in flight.
      socket.once('finish', () => setTimeout(() => socket.destroy(), NO_HALF_CLOSE_LINGER_MS).unref());
      socket.resume();
      socket.end();
    }
  }

  #onClientError = (): void => this.#destroy('client-error');
  #onBackendError = (): void => this.#destroy('backend-error');
  #onIdle = (): void => this.#destroy('idle-timeout');

  #onClientClose = (): void => this.#onClose(this.#p.backend, 'client-closed');
  #onBackendClose = (): void => this.#onClose(this.#p.client, 'backend-closed');

  /** One side is closed: the other follows, unless it is already finishing a forwarded half-close. */
  #onClose(other: Duplex, reason: CloseReason): void {
    this.#reason ??= reason;
    if (!other.destroyed) {
      if (!other.writableEnded) other.destroy();
      else setTimeout(() => other.destroy(), this.#p.target.idleTimeout || HALF_CLOSED_LINGER_MS).unref();
    }
    if (++this.#closed < 2) return;
    clearTimeout(this.#shutdownTimer);
    const { client, onClosed, clientReadBase, clientWriteBase, startedAt } = this.#p;
    onClosed({
      bytesFromClient: ((client as Partial<Socket>).bytesRead ?? clientReadBase) - clientReadBase,
      bytesToClient: ((client as Partial<Socket>).bytesWritten ?? clientWriteBase) - clientWriteBase,
      durationMs: Date.now() - startedAt,
      reason: this.#reason,
    });
  }

  #destroy(reason: CloseReason): void {
    this.#reason ??= reason;
    this.#p.client.destroy();
    this.#p.backend.destroy();
  }
}

function ignore(): void {}
