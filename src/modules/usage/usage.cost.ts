/** Costs are stored as numeric(20, 10): ten decimal places, computed without floating point. */
export const COST_SCALE = 10;

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

function parseDecimal(s: string): { units: bigint; scale: number } {
  const m = DECIMAL.exec(s.trim());
  if (!m) throw new Error(`Not a non-negative decimal: ${JSON.stringify(s)}`);
  const frac = m[2] ?? '';
  return { units: BigInt(m[1]! + frac), scale: frac.length };
}

function checkTokens(n: number, what: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
  return BigInt(n);
}

/**
 * The cost of a call at per-million prices, as a decimal string with ten places (half-up rounding
 * at the tenth place). BigInt scaled integers, never float: 1,234,567 tokens at 0.02 is 0.0246913400.
 * No price known → "0.0000000000" (the call is still counted, at no cost).
 */
export function costOf(price: { inputPerMillion: string; outputPerMillion: string } | undefined, promptTokens: number, completionTokens: number): string {
  const p = checkTokens(promptTokens, 'promptTokens');
  const c = checkTokens(completionTokens, 'completionTokens');
  if (!price) return formatScaled(0n);
  const input = parseDecimal(price.inputPerMillion);
  const output = parseDecimal(price.outputPerMillion);
  const scale = Math.max(input.scale, output.scale);
  const numerator = p * input.units * 10n ** BigInt(scale - input.scale) + c * output.units * 10n ** BigInt(scale - output.scale);
  // numerator / (10^scale · 10^6) in units of 10^-COST_SCALE, rounded half up.
  const shift = scale + 6 - COST_SCALE;
  let scaled: bigint;
  if (shift <= 0) scaled = numerator * 10n ** BigInt(-shift);
  else {
    const d = 10n ** BigInt(shift);
    scaled = (numerator + d / 2n) / d;
  }
  return formatScaled(scaled);
}

function formatScaled(v: bigint): string {
  const s = v.toString().padStart(COST_SCALE + 1, '0');
  return `${s.slice(0, -COST_SCALE)}.${s.slice(-COST_SCALE)}`;
}
