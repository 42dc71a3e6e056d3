// The results of a bench run: medians of the repeats, ratios to the reference (OpenVPN 2.6 UDP)
// and to the ceiling (plain veth), as JSON and as Markdown tables ready for the README.
import type { HandshakeCeiling } from './handshake-ceiling.js';
import type { Machine } from './machine.js';
import { median, ratio } from './stats.js';
import type { FigureKey, FigureSpec, Figures, MeasureOptions } from './types.js';
import { FIGURE_KEYS } from './types.js';

export interface SubjectResult {
  id: string;
  label: string;
  /** One entry per successful run. */
  runs: Figures[];
  /** One entry per failed run (or the reason the subject was skipped). */
  errors: string[];
  median: Figures;
  /** median / the reference's median, per figure; null where either is missing. */
  vsReference: Partial<Record<FigureKey, number | null>>;
  vsCeiling: Partial<Record<FigureKey, number | null>>;
}

export interface BenchReport {
  bench: 'postern';
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  /** Load average (1, 5, 15 min) when the bench ended: with loadAtStart, how busy it was. */
  loadAtEnd: number[];
  options: MeasureOptions & { quick: boolean; repeats: number; subjects: string[] };
  figures: FigureSpec[];
  reference: string;
  ceiling: string;
  subjects: SubjectResult[];
  /** When handshakes were measured: what any server could reach on this machine. */
  handshakeCeiling?: HandshakeCeiling;
}

export function medians(runs: readonly Figures[]): Figures {
  const out: Figures = {};
  for (const key of FIGURE_KEYS) {
    const m = median(runs.flatMap((r) => (r[key] === undefined ? [] : [r[key]])));
    if (m !== undefined) out[key] = m;
  }
  return out;
}

export function ratios(of: Figures, to: Figures | undefined): SubjectResult['vsReference'] {
  const out: SubjectResult['vsReference'] = {};
  if (!to) return out;
  for (const key of FIGURE_KEYS) if (of[key] !== undefined) out[key] = ratio(of[key], to[key]);
  return out;
}

/** Fills in medians and both ratios once every run is done. */
export function summarize(
  subjects: Pick<SubjectResult, 'id' | 'label' | 'runs' | 'errors'>[],
  referenceId: string,
  ceilingId: string,
): SubjectResult[] {
  const withMedians = subjects.map((s) => ({ ...s, median: medians(s.runs) }));
  const find = (id: string): Figures | undefined => {
    const s = withMedians.find((x) => x.id === id);
    return s && s.runs.length > 0 ? s.median : undefined;
  };
  const reference = find(referenceId);
  const ceiling = find(ceilingId);
  return withMedians.map((s) => ({
    ...s,
    vsReference: ratios(s.median, reference),
    vsCeiling: ratios(s.median, ceiling),
  }));
}

const NONE = '–';

function cell(value: number | null | undefined, digits: number): string {
  return value === undefined || value === null || !Number.isFinite(value)
    ? NONE
    : value.toFixed(digits);
}

function ratioCell(value: number | null | undefined): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return NONE;
  return `${value.toFixed(value >= 10 ? 0 : 2)}x`;
}

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function subjectName(s: SubjectResult): string {
  if (s.runs.length > 0) return s.label;
  return `${s.label} (failed: ${(s.errors[0] ?? 'no run').split('\n')[0]})`;
}

/** Three Markdown tables: the medians, then ratios to the reference, then to the ceiling. */
export function formatTables(report: BenchReport): string {
  const figs = report.figures;
  const header = ['subject', ...figs.map((f) => `${f.label} (${f.unit})`)];
  const runsNote = (s: SubjectResult): string =>
    s.runs.length === report.options.repeats
      ? ''
      : ` [${s.runs.length}/${report.options.repeats} runs]`;
  const values = report.subjects.map((s) => [
    subjectName(s) + runsNote(s),
    ...figs.map((f) => cell(s.median[f.key], f.digits)),
  ]);
  const ratioRows = (pick: (s: SubjectResult) => SubjectResult['vsReference']): string[][] =>
    report.subjects
      .filter((s) => s.runs.length > 0)
      .map((s) => [s.label, ...figs.map((f) => ratioCell(pick(s)[f.key]))]);
  const ratioHeader = ['subject', ...figs.map((f) => f.label)];
  const refLabel = report.subjects.find((s) => s.id === report.reference)?.label;
  const ceilLabel = report.subjects.find((s) => s.id === report.ceiling)?.label;
  const out = [
    `Medians of ${report.options.repeats} run(s); iperf3 runs of ${report.options.seconds} s.`,
    '',
    markdownTable(header, values),
  ];
  if (refLabel) {
    out.push('', `Ratio to ${refLabel} (above 1: more of it)`, '');
    out.push(
      markdownTable(
        ratioHeader,
        ratioRows((s) => s.vsReference),
      ),
    );
  }
  if (ceilLabel) {
    out.push('', `Ratio to ${ceilLabel}`, '');
    out.push(
      markdownTable(
        ratioHeader,
        ratioRows((s) => s.vsCeiling),
      ),
    );
  }
  return out.join('\n');
}
