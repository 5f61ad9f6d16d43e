/** Why: a backend URL and its options are validated once, at configuration time, into the flat shape the hot path reads. */

import { createSecureContext, type SecureContext } from 'node:tls';
import { configError } from './errors.ts';
import {
  type BackendTlsOptions,
  DEFAULT_TIMEOUT_MS,
  type ResolvedTargetOptions,
  type TargetOptions,
} from './options.ts';

/** A backend, ready to dial. */
export interface Target extends ResolvedTargetOptions {
  /** The target URL as configured, for logs. */
  readonly url: string;
  readonly secure: boolean;
  /** Host name or IP to connect to (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** `Host` header value sent to the backend unless `preserveHost`. */
  readonly hostHeader: string;
  /** Path of the target URL as written (`''` when the URL has none, as Apache appends to it verbatim). */
  readonly basePath: string;
  /** Query of the target URL without `?`, or `''`. */
  readonly baseQuery: string;
  /** Whether the scheme is `ws:`/`wss:` (a WebSocket-only worker in Apache, unless `fallbackToHttp`). */
  readonly websocketScheme: boolean;
  /** `http://host:port` or `https://...` of the backend, for requests proxied as plain HTTP. */
  readonly httpOrigin: string;
  /** TLS context for `wss://`/`https://` targets, built (and its PEM material checked) once, at configuration time. */
  readonly secureContext: SecureContext | undefined;
}

const SCHEMES: Record<string, { secure: boolean; port: number; websocket: boolean }> = {
  'ws:': { secure: false, port: 80, websocket: true },
  'wss:': { secure: true, port: 443, websocket: true },
  'http:': { secure: false, port: 80, websocket: false },
  'https:': { secure: true, port: 443, websocket: false },
};

/** RFC 9110 token, optionally with a `/version` (RFC 9110 section 7.8 protocol-name "/" protocol-version). */
const PROTOCOL_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?$/;

/** Builds a {@link Target} from a URL and the merged options; throws WstunnelConfigError on any mistake. */
export function resolveTarget(target: string | URL, options: TargetOptions, where: string): Target {
  const text = String(target);
  // WHATWG URL reads `\` as `/` and keeps a broken `%` escape: both would forward a path nobody wrote.
  if (text.includes('\\') || /%(?![0-9A-Fa-f]{2})/.test(text)) {
    configError(
      'ERR_WSTUNNEL_INVALID_TARGET',
      `${where}: target "${text}" must not hold "\\" or a "%" that starts no escape`,
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return configError('ERR_WSTUNNEL_INVALID_TARGET', `${where}: target "${text}" is not a valid URL`);
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) {
    return configError(
      'ERR_WSTUNNEL_INVALID_TARGET',
      `${where}: target "${text}" must use ws://, wss://, http:// or https://`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '' || url.hostname === '') {
    configError(
      'ERR_WSTUNNEL_INVALID_TARGET',
      `${where}: target "${text}" must be scheme://host[:port][/path]`,
    );
  }
  const upgrade = resolveUpgrade(options.upgrade, scheme.websocket, where);
  const timeout = duration(options.timeout, DEFAULT_TIMEOUT_MS, 'timeout', where);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    url: text,
    secure: scheme.secure,
    websocketScheme: scheme.websocket,
    httpOrigin: `${scheme.secure ? 'https' : 'http'}://${url.host}`,
    hostname,
    port: url.port === '' ? scheme.port : Number(url.port),
    hostHeader: url.host,
    basePath: hasPath(text) ? url.pathname : '',
    baseQuery: url.search.slice(1),
    upgrade,
    fallbackToHttp: flag(options.fallbackToHttp, true, 'fallbackToHttp', where),
    preserveHost: flag(options.preserveHost, false, 'preserveHost', where),
    xForwarded: flag(options.xForwarded, true, 'xForwarded', where),
    trustForwarded: flag(options.trustForwarded, false, 'trustForwarded', where),
    connectTimeout: duration(options.connectTimeout, timeout, 'connectTimeout', where),
    timeout,
    idleTimeout: duration(options.idleTimeout, timeout, 'idleTimeout', where),
    keepAlive:
      options.keepAlive === undefined || options.keepAlive === false
        ? false
        : duration(options.keepAlive, 0, 'keepAlive', where),
    halfClose: flag(options.halfClose, true, 'halfClose', where),
    max: options.max === undefined ? Number.POSITIVE_INFINITY : count(options.max, 'max', where),
    tls: options.tls ?? NO_TLS_OPTIONS,
    secureContext: scheme.secure ? secureContext(options, where) : undefined,
  };
}

/** One object for every target without TLS options, so targets that agree on TLS can be told apart cheaply. */
const NO_TLS_OPTIONS: BackendTlsOptions = Object.freeze({});

function secureContext({ tls = {} }: TargetOptions, where: string): SecureContext {
  if (typeof tls !== 'object' || tls === null)
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: tls must be an object`);
  const { ca, cert, key, servername, rejectUnauthorized } = tls;
  if (servername !== undefined && typeof servername !== 'string') {
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: tls.servername must be a string`);
  }
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') {
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: tls.rejectUnauthorized must be a boolean`);
  }
  // Node accepts CA text holding no certificate at all, and every connection would then fail verification.
  if (ca !== undefined && ![ca].flat().some((pem) => String(pem).includes('-----BEGIN CERTIFICATE-----'))) {
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: tls.ca holds no PEM certificate`);
  }
  try {
    return createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    });
  } catch (error) {
    return configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: tls: ${(error as Error).message}`);
  }
}

/**
 * Whether the target names a path. `ws://b` and `ws://b?x` name none, and Apache appends the remainder to them
 * as is; WHATWG URL would report `/` for both.
 */
function hasPath(text: string): boolean {
  const authority = text.indexOf('//') + 2;
  const end = text.slice(authority).search(/[/\\?#]/);
  return end !== -1 && (text[authority + end] === '/' || text[authority + end] === '\\');
}

function resolveUpgrade(
  value: TargetOptions['upgrade'],
  websocket: boolean,
  where: string,
): readonly string[] | '*' | 'none' {
  if (value === undefined) return websocket ? ['websocket'] : [];
  const special = typeof value === 'string' && /^(?:any|none|\*)$/i.test(value);
  const list = special ? [value as string] : value;
  if (!Array.isArray(list)) {
    return configError(
      'ERR_WSTUNNEL_INVALID_OPTION',
      `${where}: upgrade must be an array of tokens, 'ANY' or 'NONE'`,
    );
  }
  const tokens: string[] = [];
  for (const token of list) {
    if (typeof token !== 'string' || (token !== '*' && !PROTOCOL_TOKEN.test(token))) {
      configError(
        'ERR_WSTUNNEL_INVALID_OPTION',
        `${where}: upgrade token ${JSON.stringify(token)} is not an RFC 9110 token`,
      );
    }
    tokens.push(token.toLowerCase());
  }
  const wildcard = tokens.find((token) => token === 'any' || token === '*' || token === 'none');
  if (wildcard === undefined) return tokens;
  if (tokens.length !== 1) {
    configError(
      'ERR_WSTUNNEL_INVALID_OPTION',
      `${where}: upgrade ${wildcard.toUpperCase()} cannot be combined with other tokens`,
    );
  }
  return wildcard === 'none' ? 'none' : '*';
}

function flag(value: boolean | undefined, fallback: boolean, name: string, where: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: ${name} must be a boolean`);
  return value;
}

function duration(value: number | undefined, fallback: number, name: string, where: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
    configError(
      'ERR_WSTUNNEL_INVALID_OPTION',
      `${where}: ${name} must be a whole number of milliseconds (0 to 2^31-1)`,
    );
  }
  return value;
}

function count(value: number, name: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: ${name} must be a whole number of at least 1`);
  }
  return value;
}
