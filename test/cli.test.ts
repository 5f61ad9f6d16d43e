// Why: the `wstunnel` command is a product on its own: the embedded demo, --pass rules, the access log, exit codes, signals.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCommand, UsageError } from '@wstunnel/cli';
import { startEchoBackend } from './helpers/backends.ts';
import { closed, openClient, roundTrip } from './helpers/gateway.ts';

const bin = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));

/** Starts the CLI from source; `waitFor` resolves with the first stdout line matching a pattern. */
function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--conditions=@wstunnel/source', bin, ...args], {
    env: { ...process.env, ...env, NODE_TEST_CONTEXT: '' },
  }) as ChildProcessWithoutNullStreams;
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number);
  const waitFor = (pattern: RegExp): Promise<string> => {
    const seen = lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ pattern, resolve });
      void exited.then((code) =>
        reject(new Error(`exited ${code} before ${pattern}: ${lines.join('\n')}\n${stderr}`)),
      );
    });
  };
  return { child, lines, waitFor, exited, stderr: () => stderr };
}

describe('wstunnel command', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  test('with no arguments it runs the embedded demo, shows a message going through, and stops on SIGTERM', async () => {
    const cli = runCli([], { PORT: '0' });
    children.push(cli.child);
    await cli.waitFor(/received "hello through wstunnel": the tunnel works/);
    const gatewayLine = await cli.waitFor(/gateway: +ws:\/\//);
    const url = /(ws:\/\/\S+)/.exec(gatewayLine)![1]!;
    const client = await openClient(url);
    assert.equal((await roundTrip(client, 'and another')).data.toString(), 'and another');
    client.close();
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    assert.ok(cli.lines.includes('wstunnel: stopped'));
  });

  test('the demo takes a free port when 8080 is in use and no port was asked for', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    const blocked = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(8080, '127.0.0.1', () => resolve(true));
    });
    const cli = runCli([], { PORT: '' });
    children.push(cli.child);
    if (blocked) await cli.waitFor(/port 8080 is in use; the demo takes a free port instead/);
    await cli.waitFor(/the tunnel works/);
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    if (blocked) await new Promise((resolve) => blocker.close(resolve));
  });

  test('--pass tunnels to the backend and logs one access line per tunnel', async () => {
    const backend = await startEchoBackend();
    const cli = runCli(['--listen', '127.0.0.1:0', '--pass', `/ws/=${backend.origin}/`]);
    children.push(cli.child);
    const listening = await cli.waitFor(/^wstunnel listening on /);
    const base = /http:\/\/(\S+)/.exec(listening)![1]!;
    await cli.waitFor(/ProxyPass "\/ws\/" "ws:\/\/127\.0\.0\.1:\d+\/"/);
    const client = await openClient(`ws://${base}/ws/room?id=7`);
    await roundTrip(client, 'x'.repeat(100));
    client.close(1000);
    const line = await cli.waitFor(/"GET \/ws\/room\?id=7 HTTP\/1\.1" 101 /);
    assert.match(
      line,
      /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/ws\/room\?id=7 HTTP\/1\.1" 101 \d+ \d+ \d+ms \S+ -> ws:\/\/127\.0\.0\.1:\d+\/room\?id=7$/,
    );
    const [, fromClient, toClient] = / 101 (\d+) (\d+) /.exec(line)!;
    assert.ok(Number(fromClient) >= 100 && Number(toClient) >= 100, line);
    cli.child.kill('SIGINT');
    assert.equal(await cli.exited, 0);
    await backend.close();
  });

  test('the gateway keeps serving when whoever reads its log goes away (EPIPE on stdout)', async () => {
    const backend = await startEchoBackend();
    const cli = runCli(['--listen', '127.0.0.1:0', '--pass', `/ws/=${backend.origin}/`]);
    children.push(cli.child);
    const base = /http:\/\/(\S+)/.exec(await cli.waitFor(/^wstunnel listening on /))![1]!;
    cli.child.stdout.destroy();
    for (let i = 0; i < 3; i++) {
      const client = await openClient(`ws://${base}/ws/`);
      assert.equal(
        (await roundTrip(client, `after the log went away ${i}`)).data.toString(),
        `after the log went away ${i}`,
      );
      client.close(1000);
      await closed(client);
    }
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    await backend.close();
  });

  test('a configuration error exits 2 with the reason, before listening', async () => {
    const cli = runCli(['--listen', '127.0.0.1:0', '--pass', '/ws/=ws://b/x']);
    assert.equal(await cli.exited, 2);
    assert.match(cli.stderr(), /trailing slash/);
  });

  test('an unknown flag exits 2 with the usage', async () => {
    const cli = runCli(['--bogus']);
    assert.equal(await cli.exited, 2);
    assert.match(cli.stderr(), /Usage: wstunnel/);
  });

  test('an address already in use exits 1 with the reason', async () => {
    const first = runCli(['--listen', '127.0.0.1:0', '--pass', '/ws/=ws://127.0.0.1:9/']);
    children.push(first.child);
    const port = /:(\d+)$/.exec(await first.waitFor(/^wstunnel listening on /))![1]!;
    const second = runCli(['--listen', `127.0.0.1:${port}`, '--pass', '/ws/=ws://127.0.0.1:9/']);
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), /EADDRINUSE/);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
  });
});

describe('access log', () => {
  test('request lines are escaped the way Apache escapes them (quotes, backslashes, non-printable bytes)', async () => {
    const { line } = await import('../packages/cli/src/access-log.ts');
    const info = {
      id: 1,
      method: 'GET',
      url: '/ws/a"b\\c\u00e9',
      remoteAddress: '127.0.0.1',
      backend: '-',
      protocol: 'websocket',
      startedAt: 0,
    };
    assert.match(line(info, 400, undefined, 'x'), /"GET \/ws\/a\\"b\\\\c\\xe9 HTTP\/1\.1" 400 /);
  });
});

describe('parseCommand', () => {
  test('maps flags to tunnel options', () => {
    const command = parseCommand(
      [
        '--listen',
        '0.0.0.0:9000',
        '--pass',
        '/a/=ws://x/',
        '--pass',
        '/b=wss://y/b',
        '--timeout',
        '5000',
        '--idle-timeout',
        '0',
        '--no-half-close',
        '--upgrade',
        'websocket,foo',
        '--max',
        '10',
        '--close-frames',
        '--insecure',
      ],
      '1.0.0',
    );
    assert.equal(command.kind, 'run');
    if (command.kind !== 'run') return;
    assert.equal(command.config.host, '0.0.0.0');
    assert.equal(command.config.port, 9000);
    assert.deepEqual(command.config.tunnel, {
      rules: [
        { path: '/a/', target: 'ws://x/' },
        { path: '/b', target: 'wss://y/b' },
      ],
      upgrade: ['websocket', 'foo'],
      timeout: 5000,
      idleTimeout: 0,
      max: 10,
      halfClose: false,
      closeFrames: true,
      tls: { rejectUnauthorized: false },
    });
  });

  test('rejects malformed values with a UsageError', () => {
    for (const args of [
      ['--pass', 'nourl'],
      ['--listen', 'host:notaport', '--pass', '/a/=ws://x/'],
      ['--pass', '/a/=ws://x/', '--timeout', 'soon'],
      ['--listen', '127.0.0.1:1', '--timeout', '5'],
    ]) {
      assert.throws(() => parseCommand(args, '1'), UsageError, args.join(' '));
    }
  });

  test('a bad number names the flag it came from', () => {
    assert.throws(
      () => parseCommand(['--pass', '/a/=ws://x/', '--drain-timeout', 'soon'], '1'),
      /--drain-timeout soon/,
    );
    assert.throws(
      () => parseCommand(['--pass', '/a/=ws://x/', '--idle-timeout', '1.5'], '1'),
      /--idle-timeout 1\.5/,
    );
  });

  test('listen addresses: [IPv6]:PORT, bare PORT, and malformed forms are usage errors', () => {
    assert.deepEqual(parseCommand(['--listen=[::1]:0'], '1'), { kind: 'demo', host: '::1', port: 0 });
    assert.deepEqual(parseCommand(['--listen', '9000'], '1'), {
      kind: 'demo',
      host: '127.0.0.1',
      port: 9000,
    });
    for (const bad of ['127.0.0.1:', '0x1f91', '::1', 'localhost:70000']) {
      assert.throws(() => parseCommand(['--listen', bad], '1'), UsageError, bad);
    }
  });

  test('--help and --version print and no arguments means the demo', () => {
    assert.equal(parseCommand(['--version'], '9.9.9').kind, 'print');
    assert.match((parseCommand(['--help'], '1') as { text: string }).text, /--pass PATH=URL/);
    assert.deepEqual(parseCommand([], '1'), { kind: 'demo', host: '127.0.0.1', port: undefined });
    assert.deepEqual(parseCommand(['--listen', '127.0.0.2:0'], '1'), {
      kind: 'demo',
      host: '127.0.0.2',
      port: 0,
    });
  });
});
