/** Why: the process-level wiring (arguments, signals, exit codes) stays out of the gateway so tests can start gateways in-process. */

import { readFileSync } from 'node:fs';
import { ApacheConfigError, describeRules, WstunnelConfigError } from '@wstunnel/core';
import { parseCommand, USAGE, UsageError } from './args.ts';
import { startDemo } from './demo.ts';
import { startGateway } from './gateway.ts';

const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The demo on the port asked for (--listen, then PORT), else on 8080, or on any free port when 8080 is taken. */
async function startDemoOnFreePort(
  host: string,
  port: number | undefined,
  print: (line: string) => void,
): ReturnType<typeof startDemo> {
  const fromEnv = process.env['PORT'] ?? '';
  const chosen = port ?? (fromEnv === '' ? undefined : Number(fromEnv));
  try {
    return await startDemo(host, chosen ?? DEMO_PORT, print);
  } catch (error) {
    if (chosen !== undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    print(`port ${DEMO_PORT} is in use; the demo takes a free port instead`);
    return startDemo(host, 0, print);
  }
}

const DEMO_PORT = 8080;

/** Runs the CLI; resolves with the exit code once the gateway has stopped (or at once on bad arguments). */
export async function main(argv: readonly string[]): Promise<number> {
  let command: ReturnType<typeof parseCommand>;
  try {
    command = parseCommand(argv, VERSION);
  } catch (error) {
    // An Apache configuration error reads like a compiler's: "site.conf:12: what is wrong. Hint: ...".
    if (error instanceof ApacheConfigError) process.stderr.write(`${error.message}\n`);
    else if (error instanceof WstunnelConfigError) process.stderr.write(`wstunnel: ${error.message}\n`);
    else process.stderr.write(`wstunnel: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.kind === 'print') {
    process.stdout.write(`${command.text}\n`);
    return 0;
  }
  // If whoever reads the log goes away (EPIPE), the gateway keeps running without its log.
  let logging = true;
  process.stdout.on('error', () => {
    logging = false;
  });
  const print = (line: string): void => {
    if (logging) process.stdout.write(`${line}\n`);
  };

  // Listen before starting anything, so a signal that arrives during start-up drains instead of killing.
  let onSignal!: (signal: NodeJS.Signals) => void;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let stop: (drainTimeout: number) => Promise<void>;
  let drainTimeout = 1_000;
  try {
    if (command.kind === 'demo') {
      const demo = await startDemoOnFreePort(command.host, command.port, print);
      stop = () => demo.close();
    } else {
      const { config } = command;
      const gateway = await startGateway({
        host: config.host,
        port: config.port,
        tunnel: config.tunnel,
        ...(config.quiet ? {} : { log: print }),
        ...(config.manager === undefined ? {} : { manager: { path: config.manager } }),
      });
      drainTimeout = config.drainTimeout;
      print(`wstunnel listening on ${gateway.url}`);
      for (const line of [...describeRules(config.tunnel), ...(config.notes ?? [])]) print(`  ${line}`);
      stop = (timeout) => gateway.close(timeout);
    }
  } catch (error) {
    const known = error instanceof WstunnelConfigError || error instanceof UsageError;
    process.stderr.write(`wstunnel: ${known ? '' : 'cannot start: '}${(error as Error).message}\n`);
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    return known ? 2 : 1;
  }
  const signal = await stopSignal;
  print(`wstunnel: ${signal}, draining (up to ${drainTimeout} ms)`);
  // A second signal while draining means "now".
  for (const again of ['SIGINT', 'SIGTERM'] as const) process.once(again, () => process.exit(1));
  await stop(drainTimeout);
  print('wstunnel: stopped');
  return 0;
}
