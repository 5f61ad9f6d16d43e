/** Why: most tests start servers they must close even when an assertion fails; one afterEach per file closes them all. */

import type { Server } from 'node:http';
import { afterEach } from 'node:test';
import type { TargetOptions, Wstunnel } from '@wstunnel/core';
import {
  type EchoBackend,
  type RawBackend,
  type RawScript,
  startEchoBackend,
  startRawBackend,
} from './backends.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { closeServer, listen } from './net.ts';

/** Something to close after the current test. */
export type Cleanup = () => Promise<void> | void;

/** Registers an afterEach (in the calling file) that runs what `defer` collected during the test, last first. */
export function cleanupAfterEach(): (...cleanups: Cleanup[]) => void {
  const pending: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of pending.splice(0).reverse()) await cleanup();
  });
  return (...cleanups) => {
    pending.push(...cleanups);
  };
}

/** A scripted raw backend with the gateway in front of it on /ws/, both closed after the test. */
export async function rawGateway(
  defer: (...cleanups: Cleanup[]) => void,
  script: RawScript,
  options: TargetOptions & { readonly closeFrames?: boolean } = {},
): Promise<{ backend: RawBackend; gateway: TestGateway }> {
  const { closeFrames, ...target } = options;
  const backend = await startRawBackend(script);
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: `${backend.origin}/`, ...target }],
    ...(closeFrames === undefined ? {} : { closeFrames }),
  });
  defer(
    () => gateway.close(0),
    () => backend.close(),
  );
  return { backend, gateway };
}

/** A `ws` echo backend with the gateway in front of it on /ws/, both closed after the test. */
export async function echoGateway(
  defer: (...cleanups: Cleanup[]) => void,
  options: TargetOptions = {},
): Promise<{ backend: EchoBackend; gateway: TestGateway }> {
  const backend = await startEchoBackend();
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: `${backend.origin}/`, ...options }],
  });
  defer(
    () => gateway.close(0),
    () => backend.close(),
  );
  return { backend, gateway };
}

/** Attaches `tunnel` to `server`, listens on a free loopback port, and closes both after the test. */
export async function listenAttached(
  defer: (...cleanups: Cleanup[]) => void,
  tunnel: Wstunnel,
  server: Server,
): Promise<number> {
  tunnel.attach(server);
  const port = await listen(server);
  defer(
    () => tunnel.close(),
    () => closeServer(server),
  );
  return port;
}
