// Loads and validates DIR/postern.yaml. Every error names the file, the line and the fix, as one
// line, because this is what an admin sees when `postern server` or `postern reload` refuses.
import { readFileSync } from 'node:fs';
import { isMap, isNode, LineCounter, parseDocument, isPair, isScalar } from 'yaml';
import type { Node as YamlNode, Document } from 'yaml';
import type { z } from 'zod';
import { PosternError } from '../../errors.js';
import { configSchema, type Config } from './schema.js';

export const CONFIG_FILE = 'postern.yaml';

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PosternError(
      code === 'ENOENT' ? 'CONFIG_MISSING' : 'CONFIG_UNREADABLE',
      `${path}: cannot read the configuration (${code ?? 'error'})`,
      code === 'ENOENT'
        ? 'run `postern init --dir DIR --endpoint HOST` first, or pass the right --dir'
        : undefined,
    );
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = lines.linePos(yamlError.pos[0]).line;
    const what = yamlError.message.split('\n')[0] ?? 'syntax error';
    throw new PosternError(
      'CONFIG_INVALID',
      `${file}:${line}: YAML syntax error: ${what}`,
      'fix the YAML syntax on that line',
    );
  }
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new PosternError('CONFIG_INVALID', `${file}: invalid configuration`);
  const more =
    result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
  const { line, key } = locate(doc, lines, issue);
  throw new PosternError(
    'CONFIG_INVALID',
    `${file}:${line}: ${key}: ${describe(issue)}${more}`,
    fixFor(issue),
  );
}

function locate(
  doc: Document,
  lines: LineCounter,
  issue: z.core.$ZodIssue,
): { line: number; key: string } {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  let keyPath = path.map(String);
  let node: YamlNode | undefined;
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) {
    const parent = path.length ? doc.getIn(path, true) : doc.contents;
    const name = issue.keys[0];
    keyPath = [...keyPath, name];
    if (isMap(parent)) {
      const pair = parent.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === name,
      );
      if (pair && isNode(pair.key)) node = pair.key;
    }
  }
  // Walk up from the deepest node that exists: a missing key is reported at its parent.
  for (let depth = path.length; node === undefined && depth >= 0; depth--) {
    const candidate = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(candidate)) node = candidate;
  }
  const offset = node?.range?.[0] ?? 0;
  return {
    line: lines.linePos(offset).line,
    key: keyPath.length ? keyPath.join('.') : '(top level)',
  };
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key "${issue.keys.join('", "')}"`;
  if (isMissing(issue)) return 'missing';
  return issue.message;
}

function fixFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'remove it or check its spelling; `postern init` writes every known key with a comment';
    case 'invalid_type':
      return isMissing(issue) ? 'add it' : `write a ${issue.expected} there`;
    case 'invalid_value':
      return `use one of: ${issue.values.map(String).join(', ')}`;
    default:
      return 'correct the value on that line';
  }
}

// zod leaves `input` out of issues unless asked, so a missing key shows in the message only.
function isMissing(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'invalid_type' && /received undefined/.test(issue.message);
}

/**
 * The API socket path as the file names it, read leniently: the CLI must still reach a running
 * gateway (status, reload) while the file on disk has an error in some other setting.
 */
export function readSocketSetting(path: string): string | undefined {
  try {
    const doc = parseDocument(readFileSync(path, 'utf8'));
    const v = doc.getIn(['api', 'socket']);
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}
