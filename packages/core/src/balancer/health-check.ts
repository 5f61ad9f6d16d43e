/** Why: mod_proxy_hcheck's active check of a member: validated once at configuration time, then run as one bounded probe that never throws. */

import { hash, randomBytes } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import { dialBackend } from '../backend-dial.ts';
import { configError } from '../errors.ts';
import type { Target } from '../target.ts';
import type { HealthCheckOptions } from './balancer-options.ts';

/** A health check with Apache's defaults applied. */
export interface ResolvedHealthCheck {
  readonly type: 'tcp' | 'http' | 'websocket';
  readonly method: 'GET' | 'HEAD' | 'OPTIONS';
  readonly path: string;
  /** `undefined`: 2xx and 3xx pass for `'http'`, 101 for `'websocket'`. */
  readonly expectStatus: ReadonlySet<number> | undefined;
  readonly expectBody?: RegExp;
  readonly rejectBody?: RegExp;
  readonly interval: number;
  readonly timeout: number | undefined;
  readonly passes: number;
  readonly fails: number;
}

/** The outcome of one probe; `detail` says why it failed, or is `''`. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

type Fail = (message: string) => never;
type Done = (detail: string) => void;

const KEYS: ReadonlySet<string> = new Set(
  'type method path expectStatus expectBody rejectBody interval timeout passes fails'.split(' '),
);
const TYPES = ['tcp', 'http', 'websocket'] as const;
const METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;
/** Origin-form path and query: visible ASCII, no fragment. */
const PATH = /^\/[\x21\x22\x24-\x7e]*$/;
const MAX_MS = 2_147_483_647;
/** Apache `hcinterval` default. */
const DEFAULT_INTERVAL_MS = 30_000;
/** Bodies are matched against their first 64 KiB. */
const MAX_BODY = 65_536;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Validates `options` with Apache's defaults; throws WstunnelConfigError (ERR_WSTUNNEL_INVALID_BALANCER) naming `where`. */
export function resolveHealthCheck(options: HealthCheckOptions, where: string): ResolvedHealthCheck {
  const fail: Fail = (message) => configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: ${message}`);
  if (typeof options !== 'object' || options === null) fail('a health check must be an object');
  const unknown = Object.keys(options).find((key) => !KEYS.has(key));
  if (unknown !== undefined) fail(`unknown health check option "${unknown}" (${[...KEYS].join(', ')})`);
  checkRequest(options, fail);
  const { type, method = 'GET', path = '/', expectStatus, expectBody, rejectBody } = options;
  return {
    type,
    method,
    path,
    expectStatus: expectStatus && new Set(expectStatus),
    ...(expectBody && { expectBody }),
    ...(rejectBody && { rejectBody }),
    interval: whole(options.interval ?? DEFAULT_INTERVAL_MS, 10, MAX_MS, 'interval (ms)', fail),
    timeout:
      options.timeout === undefined ? undefined : whole(options.timeout, 10, MAX_MS, 'timeout (ms)', fail),
    passes: whole(options.passes ?? 1, 1, 100, 'passes', fail),
    fails: whole(options.fails ?? 1, 1, 100, 'fails', fail),
  };
}

/** What the check sends and expects must make sense for its type. */
function checkRequest(options: HealthCheckOptions, fail: Fail): void {
  const { type, method, path, expectStatus, expectBody, rejectBody } = options;
  if (!TYPES.includes(type)) fail(`type must be 'tcp', 'http' or 'websocket'`);
  if (method !== undefined && type !== 'http') fail(`method applies to type 'http' only`);
  if (method !== undefined && !METHODS.includes(method)) fail('method must be GET, HEAD or OPTIONS');
  if (path !== undefined && type === 'tcp') fail(`path does not apply to type 'tcp'`);
  if (path !== undefined && (typeof path !== 'string' || !PATH.test(path)))
    fail('path must start with "/" and hold visible ASCII characters only, no "#"');
  if (expectStatus !== undefined && type === 'tcp') fail(`expectStatus does not apply to type 'tcp'`);
  if (expectStatus !== undefined && !(Array.isArray(expectStatus) && expectStatus.length > 0))
    fail('expectStatus must be a non-empty array of statuses');
  for (const status of expectStatus ?? []) whole(status, 100, 599, 'expectStatus entries', fail);
  for (const [name, value] of Object.entries({ expectBody, rejectBody })) {
    if (value !== undefined && !(value instanceof RegExp)) fail(`${name} must be a RegExp`);
    if (value !== undefined && (type !== 'http' || method === 'HEAD'))
      fail(`${name} applies to type 'http' with GET or OPTIONS only (a HEAD answer has no body)`);
  }
}

function whole(value: unknown, min: number, max: number, name: string, fail: Fail): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    fail(`${name} must be a whole number from ${min} to ${max === MAX_MS ? '2^31-1' : max}`);
  return value as number;
}

/** Runs one check against `target`; resolves (never rejects) within the deadline, leaving no socket or timer behind. */
export function probe(target: Target, check: ResolvedHealthCheck): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let socket: Socket | undefined;
    const done: Done = (detail) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve({ ok: detail === '', detail });
    };
    const timer = setTimeout(done, deadline(target, check), 'timeout');
    try {
      socket = dialBackend(target);
      socket.on('error', (error) => done(reason(error)));
      if (check.type === 'tcp') socket.once(target.secure ? 'secureConnect' : 'connect', () => done(''));
      else ask(socket, target, check, done);
    } catch (error) {
      done(reason(error));
    }
  });
}

function deadline(target: Target, check: ResolvedHealthCheck): number {
  return check.timeout ?? Math.min(target.connectTimeout || check.interval, check.interval);
}

/** Sends the check's one request over `socket` and calls `done` with the verdict. */
function ask(socket: Socket, target: Target, check: ResolvedHealthCheck, done: Done): void {
  const websocket = check.type === 'websocket';
  const key = randomBytes(16).toString('base64');
  const upgrade = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
  };
  const headers = {
    Host: target.hostHeader,
    'User-Agent': 'wstunnel-hcheck',
    ...(websocket ? upgrade : { Connection: 'close' }),
  };
  const req = request({
    createConnection: () => socket,
    method: websocket ? 'GET' : check.method,
    path: target.basePath + check.path,
    headers,
  });
  req.on('error', (error) => done(reason(error)));
  const answer = (res: IncomingMessage): void => {
    res.on('error', (error) => done(reason(error)));
    const verdict = judgeHead(res, check, key);
    if (verdict !== '' || (check.expectBody === undefined && check.rejectBody === undefined)) done(verdict);
    else readBody(res, (body) => done(judgeBody(body, check)));
  };
  req.on('response', answer);
  req.on('upgrade', answer);
  req.end();
}

function judgeHead(res: IncomingMessage, check: ResolvedHealthCheck, key: string): string {
  const status = res.statusCode ?? 0;
  const websocket = check.type === 'websocket';
  const pass =
    check.expectStatus?.has(status) ?? (websocket ? status === 101 : status >= 200 && status < 400);
  if (!pass) return `status ${status}`;
  if (!websocket || status !== 101) return '';
  if (res.headers.upgrade?.toLowerCase() !== 'websocket') return 'bad Upgrade header';
  const accept = hash('sha1', key + WS_GUID, 'base64');
  return res.headers['sec-websocket-accept'] === accept ? '' : 'bad Sec-WebSocket-Accept';
}

/** Calls `then` with the first 64 KiB of the body (or all of it), once. */
function readBody(res: IncomingMessage, then: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const finish = (): void => then(Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8'));
  res.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_BODY) finish();
  });
  res.on('end', finish);
}

function judgeBody(body: string, { expectBody, rejectBody }: ResolvedHealthCheck): string {
  // `search` ignores and keeps `lastIndex`, so a /g or /y pattern gives the same verdict every time.
  if (expectBody !== undefined && body.search(expectBody) === -1) return 'body did not match';
  if (rejectBody !== undefined && body.search(rejectBody) !== -1) return 'body matched rejectBody';
  return '';
}

function reason(error: unknown): string {
  return String((error as NodeJS.ErrnoException)?.code ?? (error as Error)?.message ?? error);
}
