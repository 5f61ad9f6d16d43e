/**
 * Why: the handshake is forwarded as an ordinary HTTP request in Apache's order (proxy_util.c
 * ap_proxy_create_hdrbrgd): copy, strip hop-by-hop, set Host, append X-Forwarded-*, then Connection/Upgrade.
 */

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { connectionNamed, HOP_BY_HOP } from './header-lists.ts';
import type { HeaderPatch } from './rules.ts';
import type { Target } from './target.ts';

/** Besides the hop-by-hop fields: this module sets Host itself, and an upgrade request carries no body. */
const ALSO_DROPPED: ReadonlySet<string> = new Set(['http2-settings', 'host', 'content-length']);
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
/** Field values must not smuggle a line break or NUL into the backend request (RFC 9110 5.5). */
const UNSAFE_VALUE = /[\0\r\n]/;

/** The client side of the connection, as far as the forwarded headers need it. */
export interface ClientEndpoint {
  readonly remoteAddress: string;
  readonly encrypted: boolean;
}

/**
 * Builds the request head sent to the backend, or `undefined` if a client header value is unsafe.
 * `path` is the origin-form target to request; `token` the upgrade protocol asked for.
 */
export function buildBackendRequest(
  req: IncomingMessage,
  path: string,
  target: Target,
  token: string,
  client: ClientEndpoint,
  patch?: HeaderPatch,
): string | undefined {
  const raw = req.rawHeaders;
  const named = connectionNamed(req.headers.connection);
  const clientHost = req.headers.host ?? '';
  if (UNSAFE_VALUE.test(clientHost)) return undefined;
  let head = `${req.method} ${path} HTTP/1.1\r\nHost: ${target.preserveHost && clientHost !== '' ? clientHost : target.hostHeader}\r\n`;
  let forwardedFor = '';
  let forwardedHost = '';
  let forwardedProto = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || ALSO_DROPPED.has(lower) || named.has(lower) || patch?.has(lower)) continue;
    if (UNSAFE_VALUE.test(value)) return undefined;
    if (FORWARDED.has(lower) && target.xForwarded) {
      if (!target.trustForwarded) continue;
      if (lower === 'x-forwarded-for') forwardedFor = join(forwardedFor, value);
      else if (lower === 'x-forwarded-host') forwardedHost = join(forwardedHost, value);
      else forwardedProto = join(forwardedProto, value);
      continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (patch !== undefined)
    for (const [name, value] of patch) if (value !== undefined) head += `${name}: ${value}\r\n`;
  if (target.xForwarded) {
    head += `X-Forwarded-For: ${join(forwardedFor, client.remoteAddress)}\r\n`;
    if (clientHost !== '') head += `X-Forwarded-Host: ${join(forwardedHost, clientHost)}\r\n`;
    head += `X-Forwarded-Proto: ${join(forwardedProto, client.encrypted ? 'https' : 'http')}\r\n`;
  }
  return `${head}Connection: Upgrade\r\nUpgrade: ${token}\r\n\r\n`;
}

function join(list: string, value: string): string {
  return list === '' ? value : `${list}, ${value}`;
}

/** The fields that delimit a request body (RFC 9112 6). */
const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

/** Fields a plain proxied request never forwards: hop-by-hop ones (the body framing stays), and `Expect`, which Node's
 * server has already answered with 100 Continue. */
const NOT_FORWARDED: ReadonlySet<string> = new Set(
  [...HOP_BY_HOP, 'http2-settings', 'host', 'expect'].filter((name) => name !== 'transfer-encoding'),
);

/**
 * The header fields of a plain request proxied to `target`, in Apache's order of operations: hop-by-hop fields
 * (fixed ones and those the client lists in `Connection`) go first, then `Host` and `X-Forwarded-*` are set
 * (CVE-2022-31813). `connection` states the client connection's persistence, which httpxy copies into responses.
 */
export function plainRequestHeaders(
  req: IncomingMessage,
  target: Target,
  connection: 'close' | 'keep-alive',
  patch?: HeaderPatch,
): IncomingHttpHeaders {
  const named = connectionNamed(req.headers.connection);
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // The body's framing is never the client's to remove: without it a body would reach the backend as a request.
    if (value === undefined || NOT_FORWARDED.has(name) || (named.has(name) && !FRAMING.has(name))) continue;
    if ((target.xForwarded && FORWARDED.has(name)) || patch?.has(name)) continue;
    headers[name] = value;
  }
  if (patch !== undefined) for (const [name, value] of patch) if (value !== undefined) headers[name] = value;
  const clientHost = req.headers.host ?? '';
  headers.host = target.preserveHost && clientHost !== '' ? clientHost : target.hostHeader;
  if (target.xForwarded) {
    const trusted = (name: string): string => {
      const value = req.headers[name];
      return target.trustForwarded && typeof value === 'string' && !named.has(name) ? value : '';
    };
    const encrypted = (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;
    headers['x-forwarded-for'] = join(trusted('x-forwarded-for'), req.socket.remoteAddress ?? '');
    if (clientHost !== '') headers['x-forwarded-host'] = join(trusted('x-forwarded-host'), clientHost);
    headers['x-forwarded-proto'] = join(trusted('x-forwarded-proto'), encrypted ? 'https' : 'http');
  }
  headers.connection = connection;
  return headers;
}
