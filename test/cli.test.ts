// Why: the `wstunnel` command is a product on its own: the embedded demo, --pass rules, the access log, exit codes, signals.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    await cli.waitFor(/^ {2}1\. ProxyPass \/ws\/ ws:\/\/127\.0\.0\.1:\d+\/$/);
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

/** Runs the CLI to completion (for --check and errors); `cwd` lets messages name files as given. */
async function runToExit(
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--conditions=@wstunnel/source', bin, ...args], {
    env: { ...process.env, NODE_TEST_CONTEXT: '' },
    ...(cwd === undefined ? {} : { cwd }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number];
  return { code, stdout, stderr };
}

describe('wstunnel --config (Apache site file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wstunnel-cli-config-'));
  const children: ChildProcessWithoutNullStreams[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const site = [
    '# The three recipes of the mod_proxy_wstunnel manual, in one virtual host',
    '<VirtualHost *:80>',
    '    ServerName example.com',
    '    ProxyPass "/ws2/" "ws://127.0.0.1:9000/"',
    '    ProxyPassMatch ^/(myApp/ws)$ ws://127.0.0.1:9080/$1',
    '    ProxyPass / http://127.0.0.1:9080/ upgrade=websocket timeout=90',
    '    RewriteEngine on',
    '    RewriteCond %{HTTP:Upgrade} websocket [NC]',
    '    RewriteCond %{HTTP:Connection} upgrade [NC]',
    '    RewriteRule ^/?(.*) "ws://127.0.0.1:9080/$1" [P,L]',
    '</VirtualHost>',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'site.conf'), site);

  test('--check prints the rules in match order, the defaults and the ignored directives, then exits 0', async () => {
    const { code, stdout, stderr } = await runToExit(['--config', 'site.conf', '--check'], dir);
    assert.equal(stderr, '');
    assert.equal(code, 0);
    assert.deepEqual(stdout.split('\n'), [
      'site.conf: 4 rules, in match order (the first that matches a request wins)',
      '1. RewriteCond %{HTTP:Upgrade} websocket [NC]',
      '   RewriteCond %{HTTP:Connection} upgrade [NC]',
      '   RewriteRule ^/?(.*) ws://127.0.0.1:9080/$1 [P,L]',
      '2. ProxyPass /ws2/ ws://127.0.0.1:9000/',
      '3. ProxyPassMatch ^/(myApp/ws)$ ws://127.0.0.1:9080/$1',
      '4. ProxyPass / http://127.0.0.1:9080/ upgrade=websocket timeout=90',
      'Defaults for every rule that does not set its own:',
      '   ProxyPreserveHost Off',
      '   ProxyAddHeaders On',
      '   ProxyWebsocketFallbackToProxyHttp On',
      '   ProxyTimeout 60',
      "   SSLProxyVerify require (CA: Node's bundled roots)",
      'Ignored (changes nothing in wstunnel):',
      '   site.conf:2: ignored: <VirtualHost *:80> (its directives are the server configuration; the address to listen on comes from --listen)',
      '   site.conf:3: ignored: ServerName example.com (wstunnel does not route by host name: it serves every Host on its --listen address)',
      '',
    ]);
  });

  test('a file wstunnel cannot import exits 2 with file:line and a hint on stderr, and no usage or stack', async () => {
    writeFileSync(
      join(dir, 'broken.conf'),
      'ProxyPass /a/ ws://127.0.0.1:9000/\n\nRewriteEngine On\nRewriteRule ^/old /new [R]\n',
    );
    const { code, stdout, stderr } = await runToExit(['--config', 'broken.conf', '--check'], dir);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /^broken\.conf:4: a RewriteRule redirect \(\[R\]\) in the server wstunnel runs .*\. Hint: .+\n$/,
    );
  });

  test('a mistake the rule table finds (trailing slash) is reported at its line too', async () => {
    writeFileSync(
      join(dir, 'slash.conf'),
      'ProxyPass /a/ ws://127.0.0.1:9000/\nProxyPass /b/ ws://127.0.0.1:9000/b\n',
    );
    const { code, stderr } = await runToExit(['--config', 'slash.conf'], dir);
    assert.equal(code, 2);
    assert.match(stderr, /^slash\.conf:2: rule #2: .*trailing slash/);
  });

  test('--config with --pass, and --check alone, are usage errors (exit 2)', async () => {
    const both = await runToExit(['--config', 'site.conf', '--pass', '/a/=ws://127.0.0.1:9/'], dir);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--config and --pass cannot be combined/);
    const alone = await runToExit(['--check']);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--check needs --config FILE or --pass/);
  });

  test('--check with --pass rules prints their table', async () => {
    const { code, stdout } = await runToExit([
      '--pass',
      '/a/=ws://127.0.0.1:9/',
      '--pass',
      '/=http://127.0.0.1:9/',
      '--check',
    ]);
    assert.equal(code, 0);
    assert.deepEqual(stdout.split('\n').slice(0, 3), [
      'command line: 2 rules, in match order (the first that matches a request wins)',
      '1. ProxyPass /a/ ws://127.0.0.1:9/',
      '2. ProxyPass / http://127.0.0.1:9/',
    ]);
  });

  test('--config runs a gateway that tunnels by the file, and lists its rules and notes at start', async () => {
    const backend = await startEchoBackend();
    const file = join(dir, 'echo.conf');
    writeFileSync(file, `ServerName echo.test\nProxyPass /ws2/ ws://127.0.0.1:${backend.port}/\n`);
    const cli = runCli(['--listen', '127.0.0.1:0', '--config', file]);
    children.push(cli.child);
    const base = /http:\/\/(\S+)/.exec(await cli.waitFor(/^wstunnel listening on /))![1]!;
    await cli.waitFor(/^ {2}1\. ProxyPass \/ws2\/ ws:\/\/127\.0\.0\.1:\d+\/$/);
    await cli.waitFor(/echo\.conf:1: ignored: ServerName echo\.test/);
    const client = await openClient(`ws://${base}/ws2/`);
    assert.equal((await roundTrip(client, 'through --config')).data.toString(), 'through --config');
    client.close(1000);
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    await backend.close();
  });
});

describe('parseCommand --config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wstunnel-parse-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the file gives rules and defaults; flags win over its server-level settings', () => {
    const file = join(dir, 'a.conf');
    writeFileSync(
      file,
      'ProxyTimeout 90\nProxyPreserveHost On\nSSLProxyEngine On\nSSLProxyVerify require\nProxyPass /s/ wss://b/\n',
    );
    const command = parseCommand(['--config', file, '--timeout', '5000', '--insecure', '--quiet'], '1');
    assert.equal(command.kind, 'run');
    if (command.kind !== 'run') return;
    assert.deepEqual(command.config.tunnel, {
      rules: [{ path: '/s/', target: 'wss://b/' }],
      preserveHost: true,
      timeout: 5000,
      tls: { rejectUnauthorized: false },
    });
    assert.equal(command.config.notes, undefined);
  });

  test("the file's idle timeout (Timeout over a shorter ProxyTimeout) gives way to --timeout", () => {
    const file = join(dir, 'idle.conf');
    writeFileSync(file, 'ProxyTimeout 5\nProxyPass / ws://b/\n');
    const tunnel = (args: string[]) => {
      const command = parseCommand(['--config', file, ...args], '1');
      return command.kind === 'run' ? command.config.tunnel : undefined;
    };
    assert.deepEqual(tunnel([]), {
      rules: [{ path: '/', target: 'ws://b/' }],
      timeout: 5_000,
      idleTimeout: 60_000,
    });
    assert.deepEqual(tunnel(['--timeout', '120000']), {
      rules: [{ path: '/', target: 'ws://b/' }],
      timeout: 120_000,
    });
  });

  test('a file without rules is a usage error unless --check', () => {
    const file = join(dir, 'empty.conf');
    writeFileSync(file, 'ServerName x\n');
    assert.throws(
      () => parseCommand(['--config', file], '1'),
      /no ProxyPass, ProxyPassMatch or RewriteRule \[P\] to run/,
    );
    assert.equal(parseCommand(['--config', file, '--check'], '1').kind, 'print');
  });

  test('an unreadable file is a usage error; --help lists --config and --check', () => {
    assert.throws(() => parseCommand(['--config', join(dir, 'missing.conf')], '1'), UsageError);
    assert.match((parseCommand(['--help'], '1') as { text: string }).text, /--config FILE[\s\S]*--check/);
  });
});
