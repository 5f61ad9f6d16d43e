/** Why: rule regexes run on attacker-chosen paths and headers, so they are compiled to RE2 (linear time), never backtracking. */

import { RE2JS } from 're2js';
import { configError } from './errors.ts';

/** A compiled regular expression: `exec` returns the match and its groups (`undefined` for a group that did not take part). */
export interface Pattern {
  /** The pattern as written, for error messages and the rule listing. */
  readonly source: string;
  exec(input: string): readonly (string | undefined)[] | null;
}

/**
 * Compiles `pattern` (RE2 syntax, or a `RegExp` translated to it) with Apache's default `DOTALL`. Lookaround and
 * backreferences inside the pattern, which need backtracking, are a configuration error.
 */
export function compilePattern(pattern: string | RegExp, nocase: boolean, where: string): Pattern {
  const isRegExp = pattern instanceof RegExp;
  if (!isRegExp && typeof pattern !== 'string')
    configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: a pattern must be a string or a RegExp`);
  const source = isRegExp ? pattern.source : pattern;
  let flags = RE2JS.DOTALL;
  if (nocase || (isRegExp && pattern.flags.includes('i'))) flags |= RE2JS.CASE_INSENSITIVE;
  if (isRegExp && pattern.flags.includes('m')) flags |= RE2JS.MULTILINE;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(isRegExp ? RE2JS.translateRegExp(pattern.source) : source, flags);
  } catch (error) {
    return configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: pattern ${JSON.stringify(source)} is not a valid linear-time (RE2) regular expression: ${(error as Error).message}`,
    );
  }
  return {
    source: isRegExp ? String(pattern) : source,
    exec: (input) => compiled.exec(input) as (string | undefined)[] | null,
  };
}
