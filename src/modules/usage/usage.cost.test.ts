import { costOf } from './usage.cost';

describe('costOf', () => {
  const price = (inputPerMillion: string, outputPerMillion: string) => ({ inputPerMillion, outputPerMillion });

  it('when tokens are priced per million, then the cost is exact to ten places where float would drift', () => {
    expect(costOf(price('0.02', '0'), 1_234_567, 0)).toBe('0.0246913400');
    expect(costOf(price('0.0200000000', '0.0000000000'), 1_234_567, 0)).toBe('0.0246913400');
    expect(costOf(price('2.5', '10'), 1_000_000, 500_000)).toBe('7.5000000000');
    // 0.1 + 0.2 in float is 0.30000000000000004.
    expect(costOf(price('0.1', '0.2'), 1_000_000, 1_000_000)).toBe('0.3000000000');
    expect(costOf(price('3', '15'), 7, 3)).toBe('0.0000660000');
  });

  it('when the exact cost has more than ten places, then it is rounded half up at the tenth', () => {
    // 1 token at 0.00005 per million = 5e-11 → rounds up to 1e-10; 4e-11 rounds down.
    expect(costOf(price('0.00005', '0'), 1, 0)).toBe('0.0000000001');
    expect(costOf(price('0.00004', '0'), 1, 0)).toBe('0.0000000000');
  });

  it('when no price is known or no tokens were spent, then the cost is zero', () => {
    expect(costOf(undefined, 1_000_000, 1_000_000)).toBe('0.0000000000');
    expect(costOf(price('5', '15'), 0, 0)).toBe('0.0000000000');
  });

  it('when large counts meet large prices, then nothing overflows', () => {
    expect(costOf(price('9999999999.9999999999', '0'), 2_000_000_000, 0)).toBe('19999999999999.9999998000');
  });

  it('when tokens are negative or fractional, or a price is not a decimal, then it throws', () => {
    expect(() => costOf(price('1', '1'), -1, 0)).toThrow(/promptTokens/);
    expect(() => costOf(price('1', '1'), 0, 1.5)).toThrow(/completionTokens/);
    expect(() => costOf(price('1e-3', '1'), 1, 0)).toThrow(/decimal/);
  });
});
