// Core functions that generated function nodes embed. A function node cannot import the package, so the flows
// carry the package's own compiled and tested code (from dist/: run `npm run build` first) instead of a copy
// written again by hand: exact amounts as a person types them, dates as a client writes them, the currencies'
// minor units. Each embedded function is self-contained (its source says so).
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const core = (file) => require(join(root, 'dist', 'nodes', 'core', file));

const SOURCES = {
  parseMajorAmountIn: () => core('money.js').parseMajorAmountIn.toString(),
  parseInstant: () => core('instant.js').parseInstant.toString(),
  MINOR_UNIT_DIGITS: () => {
    const { knownCurrencies, minorUnitDigits } = core('money.js');
    return JSON.stringify(Object.fromEntries(knownCurrencies().map((c) => [c, minorUnitDigits(c)])));
  },
};

/** `const <name> = <source>;` for one core function or table. */
export function coreSource(name) {
  const source = SOURCES[name];
  if (!source) throw new Error(`core-source: no core source "${name}"`);
  return `const ${name} = ${source()};`;
}

/** Function code with each line `// @core <name>` replaced by that core function's source. */
export function embedCore(code) {
  return code.replace(
    /^\/\/ @core (\w+)$/gm,
    (_, name) => `// ${name}: the package's own, from nodes/core (embedded at build)\n${coreSource(name)}`,
  );
}

/**
 * A Dashboard 2.0 Vue component (ui-template) with each line `// @core-method <name>` replaced by that core
 * function as one of its methods: the dashboard takes a component's script only as a single
 * `export default {...}`, so the function goes inside it (called as `this.<name>(...)`).
 */
export function embedCoreMethods(code) {
  return code.replace(/^( *)\/\/ @core-method (\w+)$/gm, (_, indent, name) => {
    const source = SOURCES[name];
    if (!source) throw new Error(`core-source: no core source "${name}"`);
    return `${indent}// ${name}: the package's own, from nodes/core (embedded at build)\n${indent}${name}: ${source()},`;
  });
}

/** The minor-unit digits of an ISO 4217 currency, as the core knows them. */
export function minorUnitDigits(currency) {
  return core('money.js').minorUnitDigits(currency);
}
