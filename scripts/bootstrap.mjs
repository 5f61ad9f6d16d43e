// Why: the README's two commands (`npm start`, `npm test`) must work on a fresh machine with only Node 22+ and npm:
// this fetches the pinned pnpm from the npm registry when it is missing, installs, then starts the gateway or tests.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { packageManager, engines } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = packageManager.replace(/^pnpm@/, '');
const [task, ...args] = process.argv.slice(2);

function fail(message) {
  process.stderr.write(`bootstrap: ${message}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
const [needMajor, needMinor] = engines.node.replace(/^>=/, '').split('.').map(Number);
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  fail(`Node ${engines.node} is required (this is ${process.version}); see README "Quick start".`);
}

/** The pnpm to use: the one on PATH if it is the pinned version, else a copy installed from the npm registry into .tools/. */
function findPnpm() {
  try {
    if (
      execFileSync('pnpm', ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() === pnpmVersion
    ) {
      return 'pnpm';
    }
  } catch {}
  const local = join(root, '.tools', 'node_modules', '.bin', 'pnpm');
  if (!existsSync(local)) {
    process.stdout.write(`bootstrap: installing pnpm ${pnpmVersion} from the npm registry into .tools/\n`);
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        join(root, '.tools'),
        '--no-save',
        '--no-audit',
        '--no-fund',
        `pnpm@${pnpmVersion}`,
      ],
      {
        stdio: 'inherit',
      },
    );
  }
  return local;
}

function run(command, commandArgs) {
  return new Promise((resolve) => {
    // Children (the packaging test packs with pnpm) find the same pnpm on PATH.
    const path = command.includes('/')
      ? `${dirname(command)}${delimiter}${process.env.PATH}`
      : process.env.PATH;
    const child = spawn(command, commandArgs, {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, PATH: path },
    });
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

async function main() {
  const pnpm = findPnpm();
  const installed = await run(pnpm, ['install', '--frozen-lockfile']);
  if (installed !== 0) return installed;
  // The flag bin.js's shebang gives the installed `wstunnel` command (see there why).
  if (task === 'start')
    return run(process.execPath, [
      '--max-semi-space-size=16',
      join(root, 'packages/cli/dist/bin.js'),
      ...args,
    ]);
  if (task === 'test') {
    for (const script of ['lint', 'typecheck', 'test:suite']) {
      process.stdout.write(`\n> ${script}\n`);
      const code = await run(pnpm, ['run', script]);
      if (code !== 0) return code;
    }
    return 0;
  }
  fail(`unknown task "${task}" (expected start or test)`);
}

process.exitCode = await main();
