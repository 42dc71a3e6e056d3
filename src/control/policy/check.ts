// Refuses a postern.yaml whose allow rules the schema let through but the policy compiler does
// not (a port above 65535, a range that runs backwards, icmp on an IPv6 prefix), naming the
// file and line, so `postern server` and `postern reload` report it like any other config error.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { isPosternError, PosternError } from '../../errors.js';
import type { Config } from '../config/index.js';
import { parseAllowRule } from './allow-rule.js';

function lineOf(file: string, path: (string | number)[]): number {
  try {
    const lines = new LineCounter();
    const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines });
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lines.linePos(node.range[0]).line : 1;
  } catch {
    return 1;
  }
}

/** Throws CONFIG_INVALID "FILE:LINE: groups.G.allow[i]: ..." for the first bad rule. */
export function checkPolicy(config: Config, file: string): void {
  for (const [name, group] of Object.entries(config.groups)) {
    group.allow.forEach((text, i) => {
      try {
        parseAllowRule(text);
      } catch (e) {
        if (!isPosternError(e)) throw e;
        const line = lineOf(file, ['groups', name, 'allow', i]);
        throw new PosternError(
          'CONFIG_INVALID',
          `${file}:${line}: groups.${name}.allow[${i}]: ${e.message}`,
          e.hint,
        );
      }
    });
  }
}
