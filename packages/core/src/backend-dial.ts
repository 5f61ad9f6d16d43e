/** Why: opening the backend connection (TCP, or TLS with the context built at configuration time) is one decision, kept apart from the handshake logic. */

import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { Target } from './target.ts';

/** Starts connecting to the target; both directions may half-close independently, as the tunnel forwards FINs. */
export function dialBackend(target: Target): Socket {
  if (!target.secure)
    return netConnect({ host: target.hostname, port: target.port, allowHalfOpen: true, noDelay: true });
  return tlsConnect(tlsOptions(target));
}

function tlsOptions(target: Target): ConnectionOptions {
  const { servername, rejectUnauthorized } = target.tls;
  // tls.connect honours allowHalfOpen (Node lib/_tls_wrap.js), though @types/node omits it.
  const options: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: target.hostname,
    port: target.port,
    // SNI takes a host name only (RFC 6066 3); an IP target sends none.
    servername: servername ?? (isIP(target.hostname) === 0 ? target.hostname : ''),
    ALPNProtocols: ['http/1.1'],
    allowHalfOpen: true,
    rejectUnauthorized: rejectUnauthorized ?? true,
  };
  if (target.secureContext !== undefined) options.secureContext = target.secureContext;
  return options;
}
