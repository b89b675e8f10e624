/** Renderers for humans: sizes, times, aligned tables. JSON output never goes through here. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB"; binary units, as disks and `ls -h` count them. */
export function humanBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "-";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

/** Local time, to the second: "2025-01-31 14:05:09". */
export function humanTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Columns padded to their widest cell; the last column is not padded (no trailing spaces). */
export function table(header: string[], rows: string[][], opts: { rightAlign?: number[] } = {}): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const right = new Set(opts.rightAlign ?? []);
  return all.map((r) =>
    r
      .map((cell, i) => {
        if (i === r.length - 1 && !right.has(i)) return cell;
        return right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join("  "),
  );
}

export function yesNo(b: boolean): string {
  return b ? "yes" : "no";
}

export function orDash(v: string | number | null | undefined): string {
  return v === null || v === undefined ? "-" : String(v);
}
