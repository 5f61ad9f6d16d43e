/**
 * @wstunnel/cli: the `wstunnel` gateway, also usable in-process.
 * @module
 */

export { type Command, type GatewayConfig, parseCommand, UsageError } from './args.ts';
export { type Demo, startDemo } from './demo.ts';
export { type Gateway, type GatewayOptions, startGateway } from './gateway.ts';
export { main } from './main.ts';
