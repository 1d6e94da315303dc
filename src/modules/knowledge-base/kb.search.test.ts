import { chooseLexemes } from './kb.search';

describe('text leg of a large search (chooseLexemes)', () => {
  // 100k chunks; "polici" is in 30 % of them, "travel" in 5 %, anything not listed at most 0.1 %.
  const stats = { rows: 100_000, freq: new Map([['polici', 0.3], ['travel', 0.05], ['hotel', 0.008]]), rare: 0.001 };

  it('when a question mixes rare and common words, then the rarest are kept while their estimated matches fit the budget, the commonest dropped', () => {
    expect(chooseLexemes(['travel', 'polici', 'zeppelin', 'hotel'], stats, 2_000)).toEqual(['zeppelin', 'hotel']);
    expect(chooseLexemes(['travel', 'polici', 'zeppelin', 'hotel'], stats, 5_000)).toEqual(['zeppelin', 'hotel']);
    expect(chooseLexemes(['travel', 'polici', 'zeppelin', 'hotel'], stats, 10_000)).toEqual(['zeppelin', 'hotel', 'travel']);
  });

  it('when even the rarest word is over the budget, then it is kept alone, so the text leg always has a query', () => {
    expect(chooseLexemes(['polici', 'travel', 'travel'], stats, 100)).toEqual(['travel']);
  });

  it('when there are no statistics, the table is smaller than the budget, or the budget is unbounded, then every lexeme is kept', () => {
    expect(chooseLexemes(['polici', 'zeppelin'], { rows: 0, freq: new Map(), rare: 0 }, 2_000)).toBeUndefined();
    expect(chooseLexemes(['polici', 'zeppelin'], { ...stats, rows: 1_500 }, 2_000)).toBeUndefined();
    expect(chooseLexemes(['polici', 'zeppelin'], stats, Infinity)).toBeUndefined();
  });
});
