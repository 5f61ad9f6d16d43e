/** Why: a `<Location>` holds one ProxyPass plus per-directory options, which httpd merges into every Location under it. */

import type { Rule, TargetOptions } from '../options.ts';
import { type ConfigPlace, fail } from './error.ts';
import type { LocationScope, PassDirective } from './proxy-pass.ts';
import type { PlacedRule } from './scope.ts';

/** Per-directory options a `<Location>` may set on its own rule. */
export type LocationOptions = Pick<
  TargetOptions,
  'fallbackToHttp' | 'preserveHost' | 'xForwarded' | 'timeout'
>;

/** A `<Location>` being read. */
export interface LocationState {
  readonly scope: LocationScope;
  readonly place: ConfigPlace;
  pass:
    | { readonly directive: PassDirective; readonly place: ConfigPlace; readonly written: string }
    | undefined;
  readonly options: { -readonly [K in keyof LocationOptions]: LocationOptions[K] };
  /** Where the first option was set, for the error when there is no ProxyPass to attach it to. */
  optionPlace: ConfigPlace | undefined;
}

/** Parses the arguments of `<Location path>`, `<Location ~ regex>` or `<LocationMatch regex>`. */
export function locationScope(name: string, args: readonly string[], place: ConfigPlace): LocationScope {
  const isMatch = name.toLowerCase() === 'locationmatch';
  const tilde = !isMatch && args[0] === '~';
  const operands = tilde ? args.slice(1) : args;
  if (operands.length !== 1) {
    fail(
      place,
      `<${name}> takes one ${isMatch || tilde ? 'regular expression' : 'path'}, found ${operands.length}`,
      `write <${name} ${isMatch ? '"^/ws/"' : '/ws/'}>`,
    );
  }
  const path = operands[0]!;
  if (isMatch || tilde) return { path, regex: true };
  if (/[*?]|\[.*\]/.test(path)) {
    fail(
      place,
      `<${name} ${path}>: wildcard paths are not supported`,
      'use <LocationMatch> with a regular expression and ProxyPassMatch',
    );
  }
  if (!path.startsWith('/'))
    fail(place, `<${name} ${path}>: the path must start with /`, `write <${name} /${path}>`);
  return { path, regex: false };
}

/** The rule a finished `<Location>` contributes, if it has a ProxyPass. */
export function locationRule(location: LocationState): PlacedRule | undefined {
  const { pass, options, optionPlace } = location;
  // Options of a Location without ProxyPass reach the ProxyPass of Locations under its path (see assemble.ts).
  if (pass === undefined) return undefined;
  const { regex, pattern, target, options: worker } = pass.directive;
  let rule: Rule;
  if (target === undefined) {
    if (optionPlace !== undefined)
      fail(optionPlace, 'options have no effect on an exclusion (ProxyPass !)', 'remove them');
    rule = regex ? { match: pattern, exclude: true } : { path: pattern, exclude: true };
  } else {
    const own = { ...options, ...worker };
    rule = regex ? { match: pattern, target, ...own } : { path: pattern, target, ...own };
  }
  return { rule, place: pass.place, written: pass.written };
}
