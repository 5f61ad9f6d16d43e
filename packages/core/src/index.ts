/**
 * @wstunnel/core: Apache httpd's WebSocket/Upgrade tunnelling (mod_proxy_wstunnel, mod_proxy_http upgrade) for Node.
 * @module
 */

export { type Drainable, drainable, routeTunnel } from './adapter-kit.ts';
export { ApacheConfigError, type ConfigPlace, type IgnoredDirective } from './apache-config/error.ts';
export {
  type ApacheConfigImport,
  fromApacheConfig,
  type ReadApacheConfigOptions,
  readApacheConfig,
} from './apache-config/reader.ts';
export type { BalancerControl, MemberEvent } from './balancer/balancer.ts';
export type {
  BalancerMemberOptions,
  BalancerOptions,
  BalancerStrategy,
  HashKey,
  HealthCheckOptions,
  MemberChange,
  MemberStatus,
  MemberView,
  StickyOptions,
} from './balancer/balancer-options.ts';
export {
  type BalancerManager,
  balancerManager,
  type ManagerAction,
  type ManagerPage,
} from './balancer/manager.ts';
export type { BalancerSnapshot, MemberSnapshot } from './balancer/snapshot.ts';
export { describeRules } from './describe-rules.ts';
export { attachUpgradeOwner, passUpgradeOn, type UpgradeHandler, type UpgradeOwner } from './dispatcher.ts';
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
export type { HttpResult, PlainHooks } from './http-forward.ts';
export { writeErrorResponse, writeErrorToResponse } from './http-responses.ts';
export {
  type BackendTlsOptions,
  DEFAULT_TIMEOUT_MS,
  type ExcludeRule,
  type MatchRule,
  type PrefixRule,
  type RewriteCondition,
  type RewriteRule,
  type Rule,
  type TargetOptions,
  type WstunnelOptions,
} from './options.ts';
export { parseRequestPath, type RequestPath } from './request-path.ts';
export { regexCaptures, routeCaptures, routeMatch } from './route-params.ts';
export { mountRelativePath } from './route-target.ts';
export {
  type RouteCall,
  type RouteHeaders,
  type RouteInput,
  type RouteResult,
  type RouteTarget,
  RouteTunnel,
  type RouteTunnelOptions,
} from './route-tunnel.ts';
export {
  type CompiledRule,
  type HeaderPatch,
  prefixLength,
  type RouteDecision,
  type RuleMatch,
  RuleTable,
} from './rules.ts';
export type { Target } from './target.ts';
export {
  type BridgedUpgrade,
  bridgedUpgrade,
  bridgesUpgrades,
  bridgeUpgrades,
  type RequestListener,
  takeBridgedUpgrade,
  type UpgradeBridgeOptions,
} from './upgrade-bridge.ts';
export { checkUpgradeRequest, type UpgradeCheck } from './upgrade-request.ts';
export {
  type CloseOptions,
  createWstunnel,
  DEFAULT_DRAIN_TIMEOUT_MS,
  type HttpDecision,
  type TunnelDecision,
  Wstunnel,
} from './wstunnel.ts';
