/** Why: httpd splits arguments two ways (ap_getword_conf, and mod_rewrite's own parseargline); a regex survives only if we split as it does. */

import { type ConfigPlace, fail } from './error.ts';

/** C `isspace` as httpd's `apr_isspace` sees it. */
function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\v' || char === '\f';
}

const UNTERMINATED_HINT = 'close the quote, or write a literal quote inside a quoted argument as \\"';

/**
 * Splits `text` into arguments as httpd's `ap_getword_conf` does: runs of whitespace separate words; a word that
 * starts with `"` or `'` runs to the matching quote, inside which `\"` (or `\'`) and `\\` are escapes; outside quotes
 * only `\\` is an escape. A quote in the middle of a word is an ordinary character. Unlike httpd, an unterminated
 * quote is an error instead of running silently to the end of the line.
 */
export function splitArguments(text: string, place: ConfigPlace): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) return words;
    const quote = text[i];
    let word = '';
    if (quote === '"' || quote === "'") {
      i++;
      while (i < text.length && text[i] !== quote) {
        const next = text[i + 1];
        if (text[i] === '\\' && (next === quote || next === '\\')) {
          word += next;
          i += 2;
        } else word += text[i++];
      }
      if (i >= text.length) fail(place, `unterminated ${quote} quote in "${text}"`, UNTERMINATED_HINT);
      i++;
    } else {
      while (i < text.length && !isSpace(text[i])) {
        if (text[i] === '\\' && text[i + 1] === '\\') {
          word += '\\';
          i += 2;
        } else word += text[i++];
      }
    }
    words.push(word);
  }
}

/**
 * Splits the arguments of `RewriteCond` and `RewriteRule` as mod_rewrite's `parseargline` does: up to three
 * arguments; a quoted one runs to the next same quote with no escapes at all; `\` followed by whitespace keeps
 * the whitespace inside an unquoted argument (the backslash stays, as the regex escape it is). httpd drops
 * anything after the third argument; here it is an error, as is an unterminated quote.
 */
export function splitRewriteArguments(text: string, place: ConfigPlace, directive: string): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) return words;
    if (words.length === 3) {
      fail(
        place,
        `${directive} takes at most 3 arguments, found more: "${text.slice(i)}"`,
        'quote an argument that contains spaces, and write flags without spaces, like [P,L]',
      );
    }
    const quote = text[i] === '"' || text[i] === "'" ? text[i++] : undefined;
    const start = i;
    for (; i < text.length; i++) {
      const char = text[i];
      if (char === quote || (quote === undefined && isSpace(char))) break;
      if (char === '\\' && isSpace(text[i + 1])) i++;
    }
    if (quote !== undefined && i >= text.length) {
      fail(
        place,
        `unterminated ${quote} quote in "${text}"`,
        'close the quote (mod_rewrite has no escape for it)',
      );
    }
    words.push(text.slice(start, i));
    if (quote !== undefined) i++;
  }
}

/**
 * A `key=value` worker, balancer or health-check parameter: the key lower-cased (httpd compares them so). A word
 * without `=` fails with `message` and `hint`.
 */
export function keyValue(
  word: string,
  message: string,
  hint: string,
  place: ConfigPlace,
): { readonly key: string; readonly value: string } {
  const equals = word.indexOf('=');
  if (equals <= 0) fail(place, message, hint);
  return { key: word.slice(0, equals).toLowerCase(), value: word.slice(equals + 1) };
}
