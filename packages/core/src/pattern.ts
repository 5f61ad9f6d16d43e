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
  if (isRegExp) checkTranslatable(pattern, where);
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

/** Letter escapes JavaScript and RE2 read alike; any other letter after a backslash (`k<name>`, `A`, `z`) would change meaning. */
const PORTABLE_LETTER_ESCAPE = /^[dDwWsSbBnrtfvxuc]$/;

/** Refuses RegExp syntax that RE2 (through re2js) would silently read another way. */
function checkTranslatable(pattern: RegExp, where: string): void {
  const refuse = (what: string): never =>
    configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: ${String(pattern)} uses ${what}, which RE2 cannot honour`,
    );
  if (pattern.flags.includes('y')) refuse('the sticky flag (write ^ instead)');
  const unicode = pattern.flags.includes('u') || pattern.flags.includes('v');
  const source = pattern.source;
  for (let at = source.indexOf('\\'); at !== -1; at = source.indexOf('\\', at + 2)) {
    const escaped = source[at + 1] ?? '';
    if (!/^[A-Za-z]$/.test(escaped) || PORTABLE_LETTER_ESCAPE.test(escaped)) continue;
    if ((escaped === 'p' || escaped === 'P') && unicode) continue;
    refuse(escaped === 'k' ? 'a named backreference' : `the escape \\${escaped}`);
  }
}
