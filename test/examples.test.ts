// Why: examples are documentation that runs; each one is started the way its README says and used for real.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
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

test('examples/apache-site: wstunnel --config runs the three documentation recipes against its backend', async () => {
  const { mkdtemp, readFile, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const cwd = fileURLToPath(new URL('../examples/apache-site/', import.meta.url));
  const bin = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
  const start = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['--conditions=@wstunnel/source', ...args], {
      cwd,
      env: { ...process.env, ...env, NODE_TEST_CONTEXT: '' },
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return { child, exited: once(child, 'exit'), nextLine: async () => String((await lines.next()).value) };
  };
  const backend = start(['backend.ts'], { PORT: '0' });
  const backendPort = /:(\d+)$/.exec(await backend.nextLine())?.[1];
  assert.ok(backendPort);
  // The file names port 9080; the test runs its backend on a free port instead.
  const dir = await mkdtemp(`${tmpdir()}/wstunnel-site-`);
  const config = `${dir}/site.conf`;
  await writeFile(config, (await readFile(`${cwd}site.conf`, 'utf8')).replaceAll(':9080', `:${backendPort}`));
  const gateway = start([bin, '--config', config, '--listen', '127.0.0.1:0', '--quiet']);
  const listening = await gateway.nextLine();
  const origin = /listening on (http:\/\/\S+)/.exec(listening)?.[1];
  assert.ok(origin, listening);
  for (const path of ['/ws2/anything', '/live/feed', '/myApp/ws']) {
    const client: WebSocket = new WebSocket(`${origin.replace('http', 'ws')}${path}`);
    // The greeting can arrive in the same read as the 101: listen before the socket opens.
    const [greeting] = (await once(client, 'message')) as [Buffer];
    const expected = path.startsWith('/ws2/') ? path.slice(4) : path;
    assert.equal(greeting.toString(), `connected to ${expected}`);
    assert.equal((await roundTrip(client, path)).data.toString(), path);
    client.close();
  }
  assert.equal(await (await fetch(`${origin}/index.html`)).text(), 'backend page /index.html\n');
  gateway.child.kill('SIGTERM');
  backend.child.kill('SIGTERM');
  assert.deepEqual(await gateway.exited, [0, null]);
  await backend.exited;
  await rm(dir, { recursive: true });
});
