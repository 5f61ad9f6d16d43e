/**
 * Why: "every package is publishable as it stands". Packs every @wstunnel package exactly as
 * `pnpm publish` would, installs the tarballs into a scratch project outside the workspace, and uses them
 * the way consumers do: ESM import, CommonJS require (require(esm)), the `wstunnel` bin, a strict
 * TypeScript consumer without the `@wstunnel/source` condition, plus publint and attw on the tarballs.
 *
 * Assumes `tsc -b` built dist/; builds the packages itself only if their dist is missing.
 */

import assert from 'node:assert/strict';
import { type ExecFileException, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'cli', 'express', 'koa', 'fastify'] as const;
/** The adapters: the framework is a peer the consumer brings; they import it for types only (fastify-plugin aside). */
const ADAPTERS = ['express', 'koa', 'fastify'] as const;
type PackageDir = (typeof PACKAGES)[number];

interface Run {
  readonly command: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Environment for the consumer's node processes: without NODE_OPTIONS (a `--conditions=@wstunnel/source`
 * there would send them to src/*.ts, which Node refuses to strip under node_modules) and without the test
 * runner's NODE_TEST_CONTEXT.
 */
const consumerEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && key !== 'NODE_TEST_CONTEXT'),
);

/** Runs a child process to completion; never rejects, so assertions can show its output. */
function run(
  file: string,
  args: readonly string[],
  cwd: string,
  timeout: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Run> {
  const command = `${file} ${args.join(' ')} (in ${cwd})`;
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env, timeout, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        resolve({
          command,
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : null,
          signal: error?.signal ?? null,
          timedOut: error?.killed === true,
          stdout,
          stderr: error !== null && typeof error.code === 'string' ? `${error.message}\n${stderr}` : stderr,
        });
      },
    );
  });
}

function show(result: Run): string {
  const status = result.timedOut
    ? `killed after timeout (${result.signal})`
    : `exit ${result.code ?? result.signal}`;
  return `$ ${result.command}\n${status}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

function assertSucceeded(result: Run, what: string): void {
  assert.ok(result.code === 0, `${what} failed\n${show(result)}`);
}

/** The bin script of a package installed in the workspace root, run with this test's node. */
async function binOf(name: string, bin: string): Promise<string> {
  const dir = join(ROOT, 'node_modules', name);
  const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const path = manifest.bin[bin];
  assert.ok(path !== undefined, `${name} has no "${bin}" bin`);
  return join(dir, path);
}

let work = '';
let scratch = '';
const tarballs = new Map<PackageDir, string>();

before(
  async () => {
    const built = PACKAGES.every((dir) =>
      ['index.js', 'index.d.ts'].every((file) => existsSync(join(ROOT, 'packages', dir, 'dist', file))),
    );
    if (!built || !existsSync(join(ROOT, 'packages/cli/dist/bin.js'))) {
      // Only the publishable projects: the test project may be mid-edit and must not block packing.
      // --force: tsc -b only compares sources with tsconfig.tsbuildinfo, so a deleted dist looks up to date.
      const tsc = await binOf('typescript', 'tsc');
      const projects = PACKAGES.filter((dir) => dir !== 'core').map((dir) => `packages/${dir}`);
      const build = await run(process.execPath, [tsc, '-b', '--force', ...projects], ROOT, 60_000);
      assertSucceeded(build, 'tsc -b --force of the packages (dist/ was missing)');
    }

    work = await mkdtemp(join(tmpdir(), 'wstunnel-packaging-'));
    scratch = join(work, 'scratch');
    await mkdir(scratch);

    await Promise.all(
      PACKAGES.map(async (dir) => {
        const destination = join(work, `pack-${dir}`);
        await mkdir(destination);
        const packed = await run(
          'pnpm',
          ['pack', '--pack-destination', destination],
          join(ROOT, 'packages', dir),
          30_000,
        );
        assertSucceeded(packed, `pnpm pack of packages/${dir}`);
        const files = (await readdir(destination)).filter((name) => name.endsWith('.tgz'));
        assert.equal(
          files.length,
          1,
          `pnpm pack of packages/${dir} made ${files.join(', ') || 'no tarball'}`,
        );
        tarballs.set(dir, join(destination, files[0]!));
      }),
    );

    // No "type": consumers' .js files are CommonJS, the default a package must cope with.
    await writeFile(
      join(scratch, 'package.json'),
      `${JSON.stringify({ name: 'wstunnel-packaging-scratch', version: '0.0.0', private: true }, null, 2)}\n`,
    );
    const typesNode = JSON.parse(
      await readFile(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8'),
    ) as { version: string };
    const installed = await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--no-update-notifier',
        '--loglevel=error',
        // The frameworks are peers; a consumer has one of them, and none is needed to load an adapter.
        '--legacy-peer-deps',
        ...PACKAGES.map((dir) => tarballs.get(dir)!),
        `@types/node@${typesNode.version}`,
      ],
      scratch,
      75_000,
    );
    assertSucceeded(installed, 'npm install of the packed tarballs');
  },
  { timeout: 85_000 },
);

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

async function manifestOf(dir: PackageDir): Promise<Record<string, unknown>> {
  const path = join(ROOT, 'packages', dir, 'package.json');
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

test('the tarballs carry LICENSE, built files, and no workspace: specifiers', async () => {
  for (const dir of PACKAGES) {
    const installed = join(scratch, 'node_modules/@wstunnel', dir);
    for (const file of ['LICENSE', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts']) {
      assert.ok(existsSync(join(installed, file)), `@wstunnel/${dir}: ${file} is missing from the tarball`);
    }
    const license = await readFile(join(installed, 'LICENSE'), 'utf8');
    assert.match(license, /Apache License\s+Version 2\.0/, `@wstunnel/${dir}: LICENSE is not Apache-2.0`);
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
      license?: string;
      dependencies?: Record<string, string>;
    };
    assert.equal(manifest.license, 'Apache-2.0', `@wstunnel/${dir}: package.json license`);
    for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
      assert.ok(!range.startsWith('workspace:'), `@wstunnel/${dir}: dependency ${name} is still "${range}"`);
    }
  }
  assert.ok(
    existsSync(join(scratch, 'node_modules/ws/package.json')),
    'ws was not installed from the registry',
  );
});

test('ESM consumers can import every package, resolved to dist/', async () => {
  const script = `
    const adapters = {};
    for (const name of ${JSON.stringify(ADAPTERS)}) {
      const adapter = await import('@wstunnel/' + name);
      adapters[name] = [typeof adapter.wstunnel, import.meta.resolve('@wstunnel/' + name)];
    }
    const core = await import('@wstunnel/core');
    const cli = await import('@wstunnel/cli');
    const gateway = await cli.startGateway({
      host: '127.0.0.1',
      port: 0,
      tunnel: { rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] },
    });
    const url = gateway.url;
    await gateway.close();
    console.log(JSON.stringify({
      core: ['createWstunnel', 'RuleTable', 'TunnelError', 'WstunnelConfigError'].map((k) => k + ':' + typeof core[k]),
      cli: ['startGateway', 'main'].map((k) => k + ':' + typeof cli[k]),
      resolved: [import.meta.resolve('@wstunnel/core'), import.meta.resolve('@wstunnel/cli')],
      url,
      adapters,
    }));
  `;
  await writeFile(join(scratch, 'check-import.mjs'), script);
  const result = await run(process.execPath, ['check-import.mjs'], scratch, 20_000, consumerEnv);
  assertSucceeded(result, 'ESM import of @wstunnel/core and @wstunnel/cli');
  const seen = JSON.parse(result.stdout) as {
    core: string[];
    cli: string[];
    resolved: string[];
    url: string;
    adapters: Record<string, [string, string]>;
  };
  for (const name of ADAPTERS) {
    const [kind, url] = seen.adapters[name] ?? [];
    assert.equal(kind, 'function', `import('@wstunnel/${name}').wstunnel\n${show(result)}`);
    assert.match(String(url), new RegExp(`/node_modules/@wstunnel/${name}/dist/index\\.js$`));
  }
  assert.deepEqual(
    seen.core,
    ['createWstunnel:function', 'RuleTable:function', 'TunnelError:function', 'WstunnelConfigError:function'],
    `import('@wstunnel/core') exports\n${show(result)}`,
  );
  assert.deepEqual(
    seen.cli,
    ['startGateway:function', 'main:function'],
    `import('@wstunnel/cli') exports\n${show(result)}`,
  );
  for (const url of seen.resolved) {
    assert.match(url, /\/node_modules\/@wstunnel\/(core|cli)\/dist\/index\.js$/, `resolved to ${url}`);
  }
  assert.match(seen.url, /^http:\/\/127\.0\.0\.1:\d+$/, `startGateway() from the tarball\n${show(result)}`);
});

test('CommonJS consumers can require both packages (require(esm))', async () => {
  const script = `'use strict';
    const core = require('@wstunnel/core');
    const cli = require('@wstunnel/cli');
    console.log(JSON.stringify([
      typeof core.createWstunnel, typeof core.RuleTable, typeof core.TunnelError,
      typeof core.WstunnelConfigError, typeof cli.startGateway, typeof cli.main,
    ]));
  `;
  await writeFile(join(scratch, 'check-require.js'), script);
  const result = await run(process.execPath, ['check-require.js'], scratch, 20_000, consumerEnv);
  assertSucceeded(result, 'require() of @wstunnel/core and @wstunnel/cli');
  assert.deepEqual(
    JSON.parse(result.stdout),
    ['function', 'function', 'function', 'function', 'function', 'function'],
    `require() exports\n${show(result)}`,
  );
});

test('the installed wstunnel bin prints its version and usage', async () => {
  const bin = join('node_modules', '.bin', 'wstunnel');
  const { version } = (await manifestOf('cli')) as { version: string };

  const printed = await run(process.execPath, [bin, '--version'], scratch, 20_000, consumerEnv);
  assertSucceeded(printed, 'wstunnel --version');
  assert.equal(printed.stdout.trim(), version, `wstunnel --version\n${show(printed)}`);
  assert.equal(version, '0.1.0');

  const help = await run(process.execPath, [bin, '--help'], scratch, 20_000, consumerEnv);
  assertSucceeded(help, 'wstunnel --help');
  assert.match(help.stdout, /^Usage: wstunnel /m, `wstunnel --help\n${show(help)}`);
});

test('a strict nodenext TypeScript consumer typechecks against the packed .d.ts files', async () => {
  const body = `
import { createWstunnel, type TunnelOutcome, type WstunnelOptions, TunnelError } from '@wstunnel/core';
import { type Gateway, startGateway } from '@wstunnel/cli';

const options: WstunnelOptions = { rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9000/' }] };
export const tunnel = createWstunnel(options);
export const rules: number = tunnel.rules.rules.length;

export function describe(outcome: TunnelOutcome): string {
  switch (outcome.kind) {
    case 'open':
      return outcome.info.backend;
    case 'refused':
      return String(outcome.status);
    case 'failed':
      return outcome.error instanceof TunnelError ? String(outcome.error.status) : 'unreachable';
    case 'proxied':
      return outcome.info.url;
  }
}

export async function serve(): Promise<Gateway> {
  return startGateway({ port: 0, tunnel: options });
}

// Proves the types are real, not any: a number is no target.
// @ts-expect-error
createWstunnel({ rules: [{ path: '/x/', target: 42 }] });
`;
  // consumer.ts is CommonJS (no "type" in package.json), consumer.mts is ESM: both resolution modes.
  await writeFile(join(scratch, 'consumer.ts'), body);
  await writeFile(join(scratch, 'consumer.mts'), body);
  const tsconfig = {
    compilerOptions: {
      target: 'es2023',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      noEmit: true,
      types: ['node'],
    },
    files: ['consumer.ts', 'consumer.mts'],
  };
  await writeFile(join(scratch, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  const tsc = await binOf('typescript', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], scratch, 60_000, consumerEnv);
  assertSucceeded(result, 'tsc on a consumer of the packed packages');
});

for (const dir of PACKAGES) {
  test(`publint --strict finds nothing in the @wstunnel/${dir} tarball`, async () => {
    const publint = await binOf('publint', 'publint');
    const result = await run(process.execPath, [publint, '--strict', tarballs.get(dir)!], work, 30_000);
    assertSucceeded(result, `publint --strict on @wstunnel/${dir}`);
  });

  test(`attw --profile esm-only finds no problem in the @wstunnel/${dir} tarball`, async () => {
    const attw = await binOf('@arethetypeswrong/cli', 'attw');
    const args = [attw, '--profile', 'esm-only', '--format', 'ascii', '--no-color', '--no-definitely-typed'];
    const result = await run(process.execPath, [...args, tarballs.get(dir)!], work, 30_000);
    assertSucceeded(result, `attw on @wstunnel/${dir}`);
  });
}
