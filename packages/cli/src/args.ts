/** Why: the command line is parsed and validated in one place, so a typo is a clear message and exit code 2, never a half-started gateway. */

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ApacheConfigImport,
  type PrefixRule,
  readApacheConfig,
  type WstunnelOptions,
} from '@wstunnel/core';
import { checkReport, checkTunnelOptions, ignoredLines } from './config-file.ts';

/** What the gateway runs with. */
export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly tunnel: WstunnelOptions;
  /** Milliseconds open tunnels get to finish on SIGINT/SIGTERM. */
  readonly drainTimeout: number;
  readonly quiet: boolean;
  /** Path of the balancer-manager JSON page, served to loopback clients only. */
  readonly manager?: string;
  /** Notes to print at start-up: the directives of a --config file that change nothing, with file, line and reason. */
  readonly notes?: readonly string[];
}

/** The parsed command line: run with a config, run the embedded demo, or print text and exit. */
export type Command =
  | { readonly kind: 'run'; readonly config: GatewayConfig }
  /** `port` is undefined when none was asked for (8080, or any free port when 8080 is taken). */
  | { readonly kind: 'demo'; readonly host: string; readonly port: number | undefined }
  | { readonly kind: 'print'; readonly text: string };

/** A command-line mistake; the CLI prints it with usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `Usage: wstunnel [options]
       wstunnel                      run the embedded demo (echo backend + gateway)

Options:
  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080)
  --pass PATH=URL           proxy requests under PATH to URL, like Apache
                            ProxyPass "PATH" "URL": ws(s):// tunnels WebSockets
                            and proxies plain HTTP too, http(s):// proxies HTTP;
                            repeatable, first match wins
  --config FILE             take the rules and proxy settings from an Apache httpd
                            site file (ProxyPass, ProxyPassMatch, <Location>,
                            RewriteCond + RewriteRule [P], SSLProxy*); the flags
                            below override its server-level settings
  --check                   print the rules in match order, the defaults and the
                            ignored directives, then exit without listening
  --upgrade TOKENS          comma list of tunnelled Upgrade tokens (default websocket
                            for ws:// targets; ANY or NONE: unsafe, for testing)
  --timeout MS              backend answer timeout, then 504 (default 60000)
  --connect-timeout MS      backend connect timeout, then 504 (default: --timeout)
  --idle-timeout MS         close tunnels idle this long, 0 = never (default: --timeout)
  --max N                   tunnels and requests in flight per rule, then 503
  --preserve-host           send the client's Host to the backend
  --no-x-forwarded          do not add X-Forwarded-For/-Host/-Proto
  --trust-forwarded         append to client-supplied X-Forwarded-* instead of replacing
  --no-half-close           end both sides at the first EOF (Apache proxy-nohalfclose)
  --keepalive MS            TCP keep-alive on both sockets after MS idle
  --ca FILE                 CA certificates (PEM) for wss:// and https:// backends
  --cert FILE --key FILE    client certificate for wss:// and https:// backends
  --insecure                do not verify backend certificates
  --close-frames            on shutdown, send WebSocket close 1001 to both sides
  --drain-timeout MS        grace for open tunnels on SIGINT/SIGTERM (default 5000)
  --quiet                   no access log
  --manager PATH            serve the balancer-manager JSON page at PATH, to
                            loopback clients only (GET shows, POST changes)
  --help, --version`;

/**
 * Parses `argv` (without node and script); throws {@link UsageError}, or a `WstunnelConfigError` (an
 * `ApacheConfigError` with file and line for `--config`) when the rules are invalid.
 */
export function parseCommand(argv: readonly string[], version: string): Command {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowNegative: true,
    options: {
      listen: { type: 'string' },
      pass: { type: 'string', multiple: true },
      config: { type: 'string' },
      check: { type: 'boolean' },
      upgrade: { type: 'string' },
      timeout: { type: 'string' },
      'connect-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      max: { type: 'string' },
      'preserve-host': { type: 'boolean' },
      'x-forwarded': { type: 'boolean' },
      'trust-forwarded': { type: 'boolean' },
      'half-close': { type: 'boolean' },
      keepalive: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      insecure: { type: 'boolean' },
      'close-frames': { type: 'boolean' },
      'drain-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
      manager: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return { kind: 'print', text: USAGE };
  if (values.version) return { kind: 'print', text: version };
  const [host, port] = listenAddress(values.listen ?? '127.0.0.1:8080');
  if (values.config !== undefined && values.pass !== undefined) {
    throw new UsageError(
      '--config and --pass cannot be combined: write the rules in the file, as ProxyPass lines',
    );
  }
  if (values.pass === undefined && values.config === undefined) {
    const given = Object.keys(values);
    if (given.length === 0) return { kind: 'demo', host, port: undefined };
    if (given.length === 1 && values.listen !== undefined) return { kind: 'demo', host, port };
    if (values.check) throw new UsageError('--check needs --config FILE or --pass PATH=URL');
    throw new UsageError('at least one --pass PATH=URL (or --config FILE) is required');
  }
  const imported = values.config === undefined ? undefined : loadApacheConfig(values.config);
  if (imported?.options.rules.length === 0 && !values.check) {
    throw new UsageError(`--config ${values.config}: no ProxyPass, ProxyPassMatch or RewriteRule [P] to run`);
  }
  const tls = {
    ...(values.ca === undefined ? {} : { ca: readPem(values.ca, '--ca') }),
    ...(values.cert === undefined ? {} : { cert: readPem(values.cert, '--cert') }),
    ...(values.key === undefined ? {} : { key: readPem(values.key, '--key') }),
    ...(values.insecure ? { rejectUnauthorized: false } : {}),
  };
  const { tls: fileTls = {}, idleTimeout: fileIdle, ...fileDefaults } = imported?.options ?? { rules: [] };
  const tunnel: WstunnelOptions = {
    // The file's server-level settings are defaults; flags given on the command line win over them. The file's
    // idle timeout (the larger of Timeout and ProxyTimeout) gives way to --timeout, as Apache's would.
    ...fileDefaults,
    ...(fileIdle === undefined || values.timeout !== undefined ? {} : { idleTimeout: fileIdle }),
    rules:
      imported === undefined
        ? (values.pass ?? []).map(passRule)
        : importedRules(imported.options.rules, values),
    ...(values.upgrade === undefined ? {} : { upgrade: values.upgrade.split(',').map((t) => t.trim()) }),
    ...optionalNumber('timeout', '--timeout', values.timeout),
    ...optionalNumber('connectTimeout', '--connect-timeout', values['connect-timeout']),
    ...optionalNumber('idleTimeout', '--idle-timeout', values['idle-timeout']),
    ...optionalNumber('max', '--max', values.max),
    ...optionalNumber('keepAlive', '--keepalive', values.keepalive),
    ...(values['preserve-host'] === undefined ? {} : { preserveHost: values['preserve-host'] }),
    ...(values['x-forwarded'] === undefined ? {} : { xForwarded: values['x-forwarded'] }),
    ...(values['trust-forwarded'] === undefined ? {} : { trustForwarded: values['trust-forwarded'] }),
    ...(values['half-close'] === undefined ? {} : { halfClose: values['half-close'] }),
    ...(values['close-frames'] === undefined ? {} : { closeFrames: values['close-frames'] }),
    ...(Object.keys({ ...fileTls, ...tls }).length === 0 ? {} : { tls: { ...fileTls, ...tls } }),
  };
  const source = imported === undefined ? undefined : { file: values.config!, ruleLines: imported.ruleLines };
  if (imported !== undefined || values.check) checkTunnelOptions(tunnel, source);
  if (values.check) {
    return {
      kind: 'print',
      text: checkReport(tunnel, values.config ?? 'command line', imported?.ignored ?? []),
    };
  }
  const notes =
    imported === undefined || imported.ignored.length === 0 ? {} : { notes: ignoredLines(imported.ignored) };
  const drainTimeout = optionalNumber('drain', '--drain-timeout', values['drain-timeout'])['drain'] ?? 5_000;
  return {
    kind: 'run',
    config: {
      host,
      port,
      tunnel,
      drainTimeout,
      quiet: values.quiet ?? false,
      ...notes,
      ...(values.manager === undefined ? {} : { manager: values.manager }),
    },
  };
}

function passRule(value: string): PrefixRule {
  const equals = value.indexOf('=');
  if (equals <= 0)
    throw new UsageError(`--pass ${value}: expected PATH=URL, for example /ws/=ws://127.0.0.1:9000/`);
  return { path: value.slice(0, equals), target: value.slice(equals + 1) };
}

/** `HOST:PORT`, `[IPv6]:PORT` or `PORT`; a bare IPv6 address needs brackets, and the port is decimal digits. */
function listenAddress(value: string): [string, number] {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(value);
  const host = match?.[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1';
  const port = Number(match?.[2]);
  if (match === null || port > 65_535) {
    throw new UsageError(`--listen ${value}: expected HOST:PORT, for example 127.0.0.1:8080`);
  }
  return [host, port];
}

function optionalNumber<K extends string>(
  key: K,
  flag: string,
  value: string | undefined,
): Partial<Record<K, number>> {
  if (value === undefined) return {};
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < 0) {
    throw new UsageError(`${flag} ${value}: expected a whole number`);
  }
  return { [key]: number } as Partial<Record<K, number>>;
}

/** Reads and imports `--config FILE`; relative `SSLProxy*File` paths are resolved against the file's directory. */
function loadApacheConfig(path: string): ApacheConfigImport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${path}: ${(error as Error).message}`);
  }
  return readApacheConfig(text, { file: path, baseDir: dirname(resolve(path)) });
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${(error as Error).message}`);
  }
}

/**
 * The file's rules; a rule's idleTimeout only ever comes from the file's Timeout (the larger of it and the rule's
 * timeout=), so it gives way when --timeout or --idle-timeout says otherwise.
 */
function importedRules(
  rules: WstunnelOptions['rules'],
  values: { readonly timeout?: string | undefined; readonly 'idle-timeout'?: string | undefined },
): WstunnelOptions['rules'] {
  if (values.timeout === undefined && values['idle-timeout'] === undefined) return rules;
  return rules.map((rule) => {
    if (!('idleTimeout' in rule)) return rule;
    const { idleTimeout: _fromFile, ...rest } = rule;
    return rest;
  });
}
