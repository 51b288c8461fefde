/**
 * The statistics of the savings baselines, in binary floating point (energy figures are rounded to watt-hours
 * only when reported): ordinary least squares, ASHRAE Guideline 14's goodness-of-fit measures, the lag-1
 * autocorrelation of residuals and Student's t quantile its savings uncertainty needs.
 */

export interface LeastSquares {
  coefficients: number[];
  /** The diagonal of (XᵀX)⁻¹: times the residual variance, each coefficient's variance (for its t statistic). */
  unscaledVariance: number[];
}

/**
 * Least-squares coefficients of y on the columns of `x` (each row one observation, an intercept column
 * included by the caller), from the normal equations by Gauss-Jordan elimination with partial pivoting: the
 * models here have at most four columns, so conditioning is not a concern. Null when the columns are
 * linearly dependent (a degree-day column that is zero on every day).
 */
export function leastSquares(x: number[][], y: number[]): LeastSquares | null {
  const p = x[0]?.length ?? 0;
  if (p === 0 || x.length < p) return null;
  // [XᵀX | Xᵀy | I], reduced to [I | b | (XᵀX)⁻¹].
  const width = 2 * p + 1;
  const a: number[][] = Array.from({ length: p }, (_, j) => {
    const row = new Array<number>(width).fill(0);
    row[p + 1 + j] = 1;
    return row;
  });
  x.forEach((row, i) => {
    for (let j = 0; j < p; j++) {
      const aj = a[j] as number[];
      for (let k = 0; k < p; k++) aj[k] = (aj[k] as number) + (row[j] as number) * (row[k] as number);
      aj[p] = (aj[p] as number) + (row[j] as number) * (y[i] as number);
    }
  });
  const scale = Math.max(...a.map((row, j) => Math.abs(row[j] as number)), 1e-300);
  for (let col = 0; col < p; col++) {
    let pivot = col;
    for (let r = col + 1; r < p; r++) {
      if (Math.abs(a[r]?.[col] as number) > Math.abs(a[pivot]?.[col] as number)) pivot = r;
    }
    if (Math.abs(a[pivot]?.[col] as number) <= 1e-10 * scale) return null;
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const rowC = a[col] as number[];
    const d = rowC[col] as number;
    for (let k = 0; k < width; k++) rowC[k] = (rowC[k] as number) / d;
    for (let r = 0; r < p; r++) {
      if (r === col) continue;
      const rowR = a[r] as number[];
      const f = rowR[col] as number;
      if (f === 0) continue;
      for (let k = 0; k < width; k++) rowR[k] = (rowR[k] as number) - f * (rowC[k] as number);
    }
  }
  return {
    coefficients: a.map((row) => row[p] as number),
    unscaledVariance: a.map((row, j) => row[p + 1 + j] as number),
  };
}

/** Guideline 14's measures of how well a model with `p` parameters fits `y`, in percent (R² as a fraction). */
export interface FitMetrics {
  n: number;
  p: number;
  /** Mean of the measured values. */
  mean: number;
  /** sqrt(SSE / (n - p)): the standard error of a day's prediction, in the data's unit. */
  rmse: number;
  /** CV(RMSE) = 100 × rmse / mean. */
  cvRmse: number;
  /** NMBE = 100 × Σ(y - ŷ) / ((n - p) × mean). */
  nmbe: number;
  /** R² = 1 - SSE / SST. */
  r2: number;
}

export function fitMetrics(y: number[], predicted: number[], p: number): FitMetrics {
  const n = y.length;
  const mean = y.reduce((a, b) => a + b, 0) / n;
  let sse = 0;
  let sst = 0;
  let bias = 0;
  y.forEach((v, i) => {
    const e = v - (predicted[i] as number);
    sse += e * e;
    bias += e;
    sst += (v - mean) ** 2;
  });
  const dof = n - p;
  const rmse = dof > 0 ? Math.sqrt(sse / dof) : Number.NaN;
  return {
    n,
    p,
    mean,
    rmse,
    cvRmse: (100 * rmse) / mean,
    nmbe: dof > 0 ? (100 * bias) / (dof * mean) : Number.NaN,
    r2: sst > 0 ? 1 - sse / sst : Number.NaN,
  };
}

/** Lag-1 autocorrelation of a series of residuals (pairs of consecutive days only). */
export function lag1Autocorrelation(pairs: Array<[number, number]>, all: number[]): number {
  if (pairs.length < 2 || all.length < 3) return 0;
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length;
  if (variance === 0) return 0;
  const covariance = pairs.reduce((a, [u, v]) => a + (u - mean) * (v - mean), 0) / pairs.length;
  return covariance / variance;
}

/** The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`probability ${p} is not between 0 and 1`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const poly = (coefficients: number[], x: number): number => coefficients.reduce((acc, k) => acc * x + k, 0);
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/**
 * Student's t quantile with `df` degrees of freedom: exact for 1 and 2, otherwise the Cornish-Fisher expansion
 * around the normal quantile (Abramowitz and Stegun 26.7.5), within 0.1 % of tabulated values from 3 on.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(df >= 1)) throw new RangeError(`degrees of freedom ${df} must be at least 1`);
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  const z = normalQuantile(p);
  const z2 = z * z;
  const g1 = (z * (z2 + 1)) / 4;
  const g2 = (z * ((5 * z2 + 16) * z2 + 3)) / 96;
  const g3 = (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / 384;
  const g4 = (z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945)) / 92160;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
}
