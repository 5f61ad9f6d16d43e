/** Why: the orchestrator's handle on the load-generator process: one phase per request, answered or failed within a bound. */

import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startChild } from './children.ts';
import type { Phase, PhaseResult, Reply } from './protocol.ts';

/** Time a phase may take beyond its window (connection setup, draining, closing) before the run fails. */
const PHASE_SLACK_MS = 30_000;

export interface Generator {
  run(phase: Phase): Promise<PhaseResult>;
}

/** Starts the generator process. */
export function startGenerator(): Generator {
  const child = startChild(
    'loadgen',
    process.execPath,
    [fileURLToPath(new URL('./loadgen.ts', import.meta.url))],
    true,
  );
  let lastId = 0;
  return { run: (phase) => request(child, ++lastId, phase) };
}

function request(child: ChildProcess, id: number, phase: Phase): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`loadgen: ${phase.kind} phase did not answer in time`)),
      phase.durationMs + PHASE_SLACK_MS,
    );
    const onMessage = (reply: Reply): void => {
      if (reply.id !== id) return;
      if (reply.ok) done(undefined, reply.result);
      else done(new Error(`loadgen: ${phase.kind} phase failed: ${reply.error}`));
    };
    const onExit = (code: number | null, signal: string | null): void =>
      done(new Error(`loadgen exited (${code ?? signal}) during a ${phase.kind} phase`));
    const done = (error: Error | undefined, result?: PhaseResult): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error !== undefined || result === undefined) reject(error);
      else resolve(result);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.send({ id, phase });
  });
}
