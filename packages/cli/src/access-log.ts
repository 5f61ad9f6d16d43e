/** Why: one Apache-style line per tunnel (client, request, status, bytes each way, duration) is what operators grep. */

import type { TunnelInfo, TunnelStats, Wstunnel } from '@wstunnel/core';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Writes an access-log line for every tunnel that closes, every refusal, every failure and every plain request. */
export function logAccess(tunnel: Wstunnel, write: (line: string) => void): void {
  tunnel.on('close', (info, stats) => write(line(info, 101, stats, stats.reason)));
  tunnel.on('refused', (info, status) => write(line(info, status, undefined, 'refused by backend')));
  tunnel.on('proxied', (info, result) =>
    write(line(info, result.status, undefined, result.failure ?? 'http')),
  );
  tunnel.on('failed', (error, info) => {
    if (info !== undefined) write(line(info, error.status, undefined, error.code));
    else
      write(
        `- - - [${timestamp(Date.now())}] "-" ${error.status ?? '-'} - - - ${error.code}: ${error.message}`,
      );
  });
}

/** `%h - - [%t] "%r" %>s %I %O %Dms note`, with %I/%O the tunnelled bytes from and to the client. */
export function line(
  info: TunnelInfo,
  status: number | undefined,
  stats: TunnelStats | undefined,
  note: string,
): string {
  const request = escapeForLog(`${info.method} ${info.url} HTTP/1.1`);
  const bytes = stats === undefined ? '- -' : `${stats.bytesFromClient} ${stats.bytesToClient}`;
  const duration = stats === undefined ? Date.now() - info.startedAt : stats.durationMs;
  return `${info.remoteAddress} - - [${timestamp(info.startedAt)}] "${request}" ${status ?? '-'} ${bytes} ${duration}ms ${note} -> ${info.backend}`;
}

function timestamp(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Apache's log escaping (mod_log_config): `"` and `\\` escaped, bytes outside printable ASCII as `\\xhh`. */
function escapeForLog(text: string): string {
  return text.replace(/["\\]|[^\x20-\x7e]/g, (c) =>
    c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
