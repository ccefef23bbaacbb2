/**
 * Summaries of latency series, the same definitions as bench/cost_bench.py:
 * median, p95 by nearest rank, min and max, all in milliseconds.
 */

/** @param {number[]} samplesMs */
export function summarize(samplesMs) {
  if (samplesMs.length === 0) {
    return { n: 0 };
  }
  const ordered = [...samplesMs].sort((a, b) => a - b);
  const middle = Math.floor(ordered.length / 2);
  const medianMs = ordered.length % 2 === 1 ? ordered[middle] : (ordered[middle - 1] + ordered[middle]) / 2;
  const rank = Math.max(1, Math.ceil((95 * ordered.length) / 100));
  return {
    n: ordered.length,
    medianMs,
    p95Ms: ordered[rank - 1],
    minMs: ordered[0],
    maxMs: ordered[ordered.length - 1],
  };
}

/** BENCH_SCALE shrinks counts and time caps for a smoke run; 1 is the full report. */
export function benchScale() {
  const value = Number(process.env.BENCH_SCALE ?? '1');
  if (!Number.isFinite(value) || value <= 0) {
    return 1;
  }
  return Math.min(1, Math.max(0.01, value));
}
