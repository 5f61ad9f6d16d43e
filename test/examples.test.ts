// Why: examples are documentation that runs; each one is started the way its README says and used for real.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openClient, roundTrip } from './helpers/gateway.ts';

test('examples/node-http tunnels /ws2/ to its embedded echo backend and stops on SIGTERM', async () => {
  const cwd = fileURLToPath(new URL('../examples/node-http/', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@wstunnel/source', 'server.ts'], {
    cwd,
    env: { ...process.env, PORT: '0', NODE_TEST_CONTEXT: '' },
  });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => String((await lines.next()).value);
  const listening = await nextLine();
  const url = /(ws:\/\/\S+\/ws2\/)/.exec(listening)?.[1];
  assert.ok(url, listening);
  const client = await openClient(url);
  assert.equal((await roundTrip(client, 'example')).data.toString(), 'example');
  client.close();
  const closedLine = await nextLine();
  assert.match(closedLine, /^\/ws2\/: \d+ in, \d+ out, (client|backend)-closed$/);
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});
