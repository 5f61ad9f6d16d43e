/** Why: the echo and bulk phases share one windowed pump: each connection keeps a fixed number of messages in flight until the deadline, then drains. */

import type { Socket } from 'node:net';
import { STEP_TIMEOUT_MS, type Tunnel } from './client.ts';

/** One connection's messages: how to send them and how to verify their echoes. */
export interface MessageStream {
  /** Writes messages `first` to `first + n − 1`. */
  send(first: number, n: number): void;
  /** Consumes echoed bytes; returns how many messages they completed. Throws on any wrong byte. */
  read(chunk: Buffer): number;
}

export interface PumpLoad {
  readonly name: string;
  readonly window: number;
  readonly durationMs: number;
}

/** Keeps `window` messages in flight on every tunnel until the deadline, then waits for every echo; resolves with the echo count. */
export async function pump(
  load: PumpLoad,
  tunnels: readonly Tunnel[],
  streamFor: (conn: number, socket: Socket) => MessageStream,
): Promise<number> {
  let sending = true;
  let echoed = 0;
  let sentTotal = 0;
  const stopSending = setTimeout(() => {
    sending = false;
  }, load.durationMs);
  const pumps = tunnels.map(
    ({ socket, rest }, conn) =>
      new Promise<void>((resolve, reject) => {
        const stream = streamFor(conn, socket);
        let sent = 0;
        let received = 0;
        const send = (n: number): void => {
          stream.send(sent, n);
          sent += n;
          sentTotal += n;
        };
        const finish = (error?: Error): void => {
          socket.off('data', onData);
          socket.off('error', finish);
          socket.off('close', onClose);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onClose = (): void =>
          finish(new Error(`connection ${conn}: closed after ${received} of ${sent} echoes`));
        const onData = (chunk: Buffer): void => {
          let got: number;
          try {
            got = stream.read(chunk);
          } catch (error) {
            return finish(error as Error);
          }
          echoed += got;
          received += got;
          if (received > sent) return finish(new Error(`connection ${conn}: more echoes than messages`));
          if (sending) {
            if (got > 0) send(got);
          } else if (received === sent) finish();
        };
        socket.on('data', onData);
        socket.on('error', finish);
        socket.on('close', onClose);
        send(load.window);
        if (rest.length > 0) onData(rest);
      }),
  );
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    watchdog = setTimeout(
      () => reject(new Error(`${load.name}: stalled, ${echoed} of ${sentTotal} messages echoed`)),
      load.durationMs + STEP_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([Promise.all(pumps), stalled]);
  } finally {
    clearTimeout(stopSending);
    clearTimeout(watchdog);
  }
  if (echoed !== sentTotal) throw new Error(`${load.name}: ${echoed} echoes for ${sentTotal} messages`);
  return echoed;
}
