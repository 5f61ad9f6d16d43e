/** Why: the load generator runs in its own process, one phase at a time on the orchestrator's request, so its CPU is separate from the orchestrator's. */

import { runPhase } from './phases.ts';
import type { Reply, Request } from './protocol.ts';

if (process.send === undefined) throw new Error('loadgen.ts is started by bench/run.ts over IPC');

let busy = false;

process.on('message', (message: Request) => {
  const reply = (answer: Reply): void => void process.send!(answer);
  if (busy) return reply({ id: message.id, ok: false, error: 'a phase is already running' });
  busy = true;
  runPhase(message.phase).then(
    (result) => {
      busy = false;
      reply({ id: message.id, ok: true, result });
    },
    (error: unknown) => {
      busy = false;
      reply({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    },
  );
});

// The orchestrator owns this process: when it goes, so does the generator.
process.on('disconnect', () => process.exit(0));
