/**
 * @wstunnel/core: Apache httpd's WebSocket/Upgrade tunnelling (mod_proxy_wstunnel, mod_proxy_http upgrade) for Node.
 * @module
 */

export { attachUpgradeOwner, type UpgradeHandler, type UpgradeOwner } from './dispatcher.ts';
export {
  type ConfigErrorCode,
  TunnelError,
  type TunnelErrorCode,
  WstunnelConfigError,
} from './errors.ts';
export {
  type CloseReason,
  channels,
  type TunnelInfo,
  type TunnelOutcome,
  type TunnelStats,
  type WstunnelEvents,
} from './events.ts';
export { writeErrorResponse } from './http-responses.ts';
export {
  type BackendTlsOptions,
  DEFAULT_TIMEOUT_MS,
  type PrefixRule,
  type TargetOptions,
  type WstunnelOptions,
} from './options.ts';
export { type CompiledRule, prefixLength, type RuleMatch, RuleTable } from './rules.ts';
export type { Target } from './target.ts';
export { checkUpgradeRequest, type UpgradeCheck } from './upgrade-request.ts';
export { type CloseOptions, createWstunnel, DEFAULT_DRAIN_TIMEOUT_MS, Wstunnel } from './wstunnel.ts';
