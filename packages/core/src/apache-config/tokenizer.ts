/** Why: httpd reads a configuration file in a precise way (continuations, comments only at line start, sections); the importer must read it the same way. */

import { splitArguments } from './arguments.ts';
import { type ConfigPlace, fail } from './error.ts';

/** One directive line: `Name arguments...`. */
export interface ConfigDirective {
  readonly kind: 'directive';
  /** The name as written; httpd compares names case-insensitively. */
  readonly name: string;
  /** Everything after the name, trimmed; each handler splits it the way its httpd module does. */
  readonly rawArgs: string;
  readonly place: ConfigPlace;
}

/** A `<Name args>` ... `</Name>` block. */
export interface ConfigSection {
  readonly kind: 'section';
  /** The name as written, without `<`. */
  readonly name: string;
  /** The arguments before the closing `>`, split as httpd splits them. */
  readonly args: readonly string[];
  readonly place: ConfigPlace;
  readonly children: readonly ConfigNode[];
}

/** A node of the configuration tree. */
export type ConfigNode = ConfigDirective | ConfigSection;

interface OpenSection {
  readonly name: string;
  readonly args: readonly string[];
  readonly place: ConfigPlace;
  readonly children: ConfigNode[];
}

/** Physical lines joined into logical ones, each with the number of its first physical line. */
function* logicalLines(text: string): Generator<{ readonly text: string; readonly line: number }> {
  const physical = text.replace(/^\uFEFF/, '').split('\n');
  const withoutCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);
  for (let i = 0; i < physical.length; i++) {
    const line = i + 1;
    let joined = withoutCr(physical[i]!);
    // httpd (ap_cfg_getline_core): a backslash right before the newline joins the next line, whatever precedes it.
    while (joined.endsWith('\\') && i + 1 < physical.length)
      joined = joined.slice(0, -1) + withoutCr(physical[++i]!);
    yield { text: joined.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, ''), line };
  }
}

/**
 * Reads httpd configuration text into a tree of directives and sections. Blank lines and lines whose first
 * non-blank character is `#` are skipped (as in httpd, a `#` later in a line is part of an argument, and a comment
 * ending in `\` continues onto the next line). Throws {@link ApacheConfigError} for unbalanced sections.
 */
export function parseConfigTree(text: string, file: string): ConfigNode[] {
  const root: ConfigNode[] = [];
  const open: OpenSection[] = [];
  for (const { text: line, line: number } of logicalLines(text)) {
    if (line === '' || line.startsWith('#')) continue;
    const place = { file, line: number };
    const siblings = open.at(-1)?.children ?? root;
    if (line.startsWith('</')) {
      const closing = /^<\/([^\s>]+)\s*>$/.exec(line);
      if (closing === null) fail(place, `malformed closing tag "${line}"`, 'write it as </Name>');
      const name = closing[1]!;
      const section = open.pop();
      if (section === undefined) {
        fail(
          place,
          `</${name}> without matching <${name}> section`,
          `remove it, or open the section before it`,
        );
      }
      if (section.name.toLowerCase() !== name.toLowerCase()) {
        fail(
          place,
          `expected </${section.name}> but saw </${name}>`,
          `close <${section.name}> (line ${section.place.line}) first`,
        );
      }
      (open.at(-1)?.children ?? root).push({ kind: 'section', ...section });
    } else if (line.startsWith('<')) {
      const name = /^<([^\s>]*)/.exec(line)![1]!;
      const rest = line.slice(1 + name.length);
      const close = rest.lastIndexOf('>');
      if (name === '' || close === -1) {
        fail(
          place,
          `<${name}> directive missing closing '>'`,
          `end the line with '>', like <${name || 'Location'} /path>`,
        );
      }
      if (close !== rest.length - 1) {
        // httpd drops what follows the '>' without a word; it is most likely a comment that would be lost.
        fail(
          place,
          `text after '>' in <${name}...>: "${rest.slice(close + 1).trim()}"`,
          'put it on a line of its own',
        );
      }
      open.push({ name, args: splitArguments(rest.slice(0, close), place), place, children: [] });
    } else {
      // httpd splits on ASCII whitespace only: a line of other blanks is a directive name, reported as unknown.
      const name = /^[^ \t\n\r\v\f]+/.exec(line)![0];
      siblings.push({ kind: 'directive', name, rawArgs: line.slice(name.length).trim(), place });
    }
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) {
    fail(
      unclosed.place,
      `<${unclosed.name}> was not closed`,
      `add </${unclosed.name}> after its last directive`,
    );
  }
  return root;
}
