/**
 * Baseline models and their quality (nodes/core/loadcontrol/baseline.ts, statistics.ts): least squares and
 * Guideline 14's measures on datasets small enough to work by hand, Student's t against printed tables,
 * regressions recovering known coefficients from seeded synthetic years, the day-type fallback, a model that
 * fails reported as failing, and the savings uncertainty formula.
 */
import assert from 'node:assert/strict';
import {
  fitBaseline,
  predict,
  savingsUncertainty,
  type BaselineDay,
  type BaselineModel,
} from '../../dist/nodes/core/loadcontrol/baseline';
import {
  fitMetrics,
  lag1Autocorrelation,
  leastSquares,
  normalQuantile,
  studentTQuantile,
} from '../../dist/nodes/core/loadcontrol/statistics';

const close = (actual: number, expected: number, tolerance: number, what = ''): void =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what} ${actual} is not within ${tolerance} of ${expected}`,
  );

/** mulberry32: a small seeded generator, so the synthetic data is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal noise (Box-Muller). */
function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** A year of days from 2025-01-01 with a seasonal temperature and a weekend flag. */
function year(
  seed: number,
  energy: (t: number, nonWorking: number, noise: number) => number,
  temperature = (d: number, noise: number): number => 11 - 9 * Math.cos((2 * Math.PI * d) / 365) + 3 * noise,
): BaselineDay[] {
  const noise = gaussian(random(seed));
  const out: BaselineDay[] = [];
  for (let d = 0; d < 365; d++) {
    const date = new Date(Date.UTC(2025, 0, 1 + d)).toISOString().slice(0, 10);
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    const weekend = weekday === 0 || weekday === 6;
    const t = temperature(d, noise());
    out.push({
      date,
      dayType: weekend ? 'weekend' : 'weekday',
      temperature: t,
      energy: energy(t, weekend ? 1 : 0, noise()),
    });
  }
  return out;
}

describe('savings: statistics worked by hand', () => {
  it('least squares: y = 2 + 0.7 x through (1,2) (2,4) (3,5) (4,4)', () => {
    // x̄ = 2.5, ȳ = 3.75, Sxy = 3.5, Sxx = 5: slope 0.7, intercept 3.75 - 0.7 × 2.5 = 2.
    const b = leastSquares(
      [1, 2, 3, 4].map((x) => [1, x]),
      [2, 4, 5, 4],
    )?.coefficients as number[];
    close(b[0] as number, 2, 1e-12);
    close(b[1] as number, 0.7, 1e-12);
    // A column of zeros (no degree-days at all) leaves the system singular.
    assert.equal(
      leastSquares(
        [1, 2, 3].map((x) => [1, x, 0]),
        [1, 2, 3],
      ),
      null,
    );
  });

  it("Guideline 14's CV(RMSE), NMBE and R² on four days", () => {
    // Residuals y - ŷ: -1, 0, 1, 1; SSE 3, n - p = 2, RMSE √1.5; mean 14; SST 16 + 4 + 0 + 36 = 56.
    const m = fitMetrics([10, 12, 14, 20], [11, 12, 13, 19], 2);
    close(m.rmse, Math.sqrt(1.5), 1e-12);
    close(m.cvRmse, (100 * Math.sqrt(1.5)) / 14, 1e-12); // 8.7482 %
    close(m.nmbe, (100 * 1) / (2 * 14), 1e-12); // 3.5714 %
    close(m.r2, 1 - 3 / 56, 1e-12); // 0.94643
    assert.equal(m.mean, 14);
  });

  it('lag-1 autocorrelation of alternating residuals is negative, of a trend positive', () => {
    const alternating = [1, -1, 1, -1];
    // mean 0, variance 1, covariance of pairs (1,-1)(-1,1)(1,-1): -1.
    close(
      lag1Autocorrelation(
        [
          [1, -1],
          [-1, 1],
          [1, -1],
        ],
        alternating,
      ),
      -1,
      1e-12,
    );
    const trend = [-1.5, -0.5, 0.5, 1.5];
    // variance 1.25, pair products 0.75, -0.25, 0.75: mean 0.41667; ρ = 0.3333.
    close(
      lag1Autocorrelation(
        [
          [-1.5, -0.5],
          [-0.5, 0.5],
          [0.5, 1.5],
        ],
        trend,
      ),
      1 / 3,
      1e-12,
    );
  });

  it("Student's t and the normal quantiles match the printed tables", () => {
    close(normalQuantile(0.975), 1.959964, 1e-6);
    close(normalQuantile(0.95), 1.644854, 1e-6);
    close(normalQuantile(0.01), -2.326348, 1e-6);
    const table: Array<[number, number, number]> = [
      [0.95, 1, 6.313752],
      [0.975, 2, 4.302653],
      [0.975, 5, 2.570582],
      [0.95, 10, 1.812461],
      [0.975, 10, 2.228139],
      [0.95, 28, 1.701131],
      [0.95, 30, 1.697261],
      [0.95, 363, 1.649],
    ];
    for (const [p, df, t] of table) close(studentTQuantile(p, df), t, t * 0.001, `t(${p}, ${df})`);
  });
});

describe('savings: baseline models', () => {
  it('recovers known degree-day coefficients from a seeded synthetic year', () => {
    // E = 200 - 60·N + 8·HDD(15.5) + 12·CDD(18) + noise (sd 5 kWh).
    const days = year(
      21,
      (t, n, e) => 200 - 60 * n + 8 * Math.max(0, 15.5 - t) + 12 * Math.max(0, t - 18) + 5 * e,
    );
    const choice = fitBaseline(days);
    const model = choice.model as BaselineModel;
    assert.equal(model.kind, 'degree-days', choice.note);
    assert.equal(model.passes, true);
    close(model.coefficients['intercept'] as number, 200, 2, 'intercept');
    close(model.coefficients['nonWorking'] as number, -60, 1.5, 'non-working');
    close(model.coefficients['hdd'] as number, 8, 0.2, 'HDD');
    close(model.coefficients['cdd'] as number, 12, 0.6, 'CDD');
    close(model.metrics.rmse, 5, 0.5, 'RMSE');
    assert.equal(model.metrics.n, 365);
    assert.equal(model.metrics.p, 4);
    close(model.metrics.nmbe, 0, 1e-9, 'NMBE of least squares with an intercept');
    assert.ok(model.metrics.r2 > 0.9);
    // The prediction follows the formula.
    close(predict(model, { dayType: 'weekday', temperature: 5.5 }) as number, 200 + 8 * 10, 3);
    assert.equal(predict(model, { dayType: 'weekday' }), null);
  });

  it('finds the change point and slope of a cooling load', () => {
    // E = 100 + 5·max(0, T - 21) + noise (sd 3), T from 5 to 35 °C.
    const days = year(
      7,
      (t, _n, e) => 100 + 5 * Math.max(0, t - 21) + 3 * e,
      (d, e) => 20 - 12 * Math.cos((2 * Math.PI * d) / 365) + 2 * e,
    );
    const model = fitBaseline(days).model as BaselineModel;
    assert.equal(model.kind, 'change-point-cooling');
    close(model.changePoint as number, 21, 0.5, 'change point');
    close(model.coefficients['cooling'] as number, 5, 0.25, 'slope');
    close(model.coefficients['intercept'] as number, 100, 1, 'intercept');
    assert.equal(model.metrics.p, 4); // intercept, non-working term, slope, change point
  });

  it('falls back to the day-type means without temperature, holidays taking the weekend mean', () => {
    const days: BaselineDay[] = [];
    for (let d = 0; d < 35; d++) {
      const date = new Date(Date.UTC(2026, 0, 5 + d)).toISOString().slice(0, 10);
      const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
      const weekend = weekday === 0 || weekday === 6;
      // Weekdays alternate 99 and 101, weekends 40 and 42: means 100 and 41.
      days.push({
        date,
        dayType: weekend ? 'weekend' : 'weekday',
        energy: (weekend ? 40 : 99) + (d % 2) * 2,
      });
    }
    const choice = fitBaseline(days);
    const model = choice.model as BaselineModel;
    assert.equal(model.kind, 'day-type');
    assert.match(choice.note, /no outdoor temperature in the baseline period/);
    const weekdays = days.filter((d) => d.dayType === 'weekday').map((d) => d.energy);
    const weekends = days.filter((d) => d.dayType === 'weekend').map((d) => d.energy);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    close(model.coefficients['weekday'] as number, mean(weekdays), 1e-12);
    close(model.coefficients['weekend'] as number, mean(weekends), 1e-12);
    assert.equal(predict(model, { dayType: 'holiday' }), model.coefficients['weekend']);
    assert.equal(model.metrics.p, 2);
    assert.equal(model.passes, true);
  });

  it('uses the day-type baseline when temperature explains nothing, and says why', () => {
    // A degree-day term is kept only when its t statistic reaches 2: on energy unrelated to temperature a term
    // passes by chance in a few percent of years. Over 40 seeded years, at least 35 fall back to the day type.
    let fallbacks = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const choice = fitBaseline(year(seed, (_t, n, e) => 150 - 50 * n + 4 * e));
      if (choice.model?.kind !== 'day-type') continue;
      fallbacks++;
      assert.match(choice.note, /outdoor temperature explains none of the energy/);
      assert.deepEqual(
        choice.candidates.map((m) => m.kind),
        ['day-type'],
      );
    }
    assert.ok(fallbacks >= 35, `${fallbacks} of 40`);
  });

  it('reports a model that fails Guideline 14 as failing and uses none', () => {
    // Noise as large as the load: CV(RMSE) far above 25 %.
    const days = year(5, (t, _n, e) => 50 + 0.1 * t + 40 * e);
    const choice = fitBaseline(days);
    assert.equal(choice.model, null);
    assert.match(choice.note, /no baseline model passes Guideline 14/);
    for (const m of choice.candidates) {
      assert.equal(m.passes, false);
      assert.ok(
        m.failures.some((f) => /CV\(RMSE\) .* above 25 %/.test(f)),
        m.failures.join(', '),
      );
    }
    // Too few days fails whatever the fit.
    const short = fitBaseline(year(21, (t) => 100 + 5 * Math.max(0, 15.5 - t)).slice(0, 20));
    assert.equal(short.model, null);
    assert.ok(short.candidates.every((m) => m.failures.includes('20 baseline days, fewer than 30')));
  });

  it("computes the savings uncertainty by Guideline 14's formula", () => {
    const model = {
      kind: 'day-type',
      metrics: { n: 30, p: 2, rmse: 10, mean: 100, cvRmse: 10, nmbe: 0, r2: 0.8 },
      autocorrelation: 0,
    } as unknown as BaselineModel;
    // t(0.95, 28) = 1.701131 from the table; U = t × 1.26 × 10 × √(10 × 1 × (1 + 2/30)).
    close(savingsUncertainty(model, 10, 0.9), 1.701131 * 1.26 * 10 * Math.sqrt(10 * (1 + 2 / 30)), 0.02);
    // Autocorrelated residuals (ρ = 0.5) shrink the effective n to 10 and widen it by √3.
    const correlated = { ...model, autocorrelation: 0.5 } as BaselineModel;
    close(
      savingsUncertainty(correlated, 10, 0.9),
      1.701131 * 1.26 * 10 * Math.sqrt(10 * 3 * (1 + 2 / 30)),
      0.05,
    );
    assert.equal(savingsUncertainty(model, 0), 0);
  });
});
