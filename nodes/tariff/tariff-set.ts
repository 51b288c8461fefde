/**
 * The tariffs one node prices with, and the rules that pick one for a consumption: a name given
 * by the message, then the mapping table (account pattern and utility), then the default.
 * No Node-RED here: the editor's check endpoint and the runtime build the same TariffSet.
 */
import { compileTariff, TariffProblem, TariffValidationError, tariffWarnings } from '../core/tariff/compile';
import { CompiledTariff } from '../core/tariff/types';
import { extend } from '../core/shapes';

export interface MappingRule {
  /** Account id pattern; `*` matches any run of characters. Empty or absent: any account. */
  account?: string;
  utility?: string;
  tariff: string;
}

export interface TariffSetConfig {
  /** JSON text (or object): tariff name -> tariff document. */
  tariffs: unknown;
  defaultTariff?: string;
  /** JSON text (or array) of mapping rules. */
  mapping?: unknown;
}

export interface NamedProblem extends TariffProblem {
  tariff: string;
}

export class TariffSetError extends Error {
  constructor(readonly problems: NamedProblem[]) {
    super(
      problems.map((p) => `${p.tariff ? `tariff "${p.tariff}" ` : ''}${p.path}: ${p.message}`).join('; '),
    );
    this.name = 'TariffSetError';
  }
}

function parseJson(value: unknown, what: string, problems: NamedProblem[]): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    problems.push({ tariff: '', path: what, message: `is not valid JSON (${(error as Error).message})` });
    return undefined;
  }
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

export interface BuildOptions {
  /**
   * Keep the valid tariffs when some are invalid (the node prices with those, and refuses what the invalid
   * ones would price, naming their problems); the set's own structure (JSON, mapping, default) still has to
   * be sound. Without it, any problem throws.
   */
  partial?: boolean;
}

export class TariffSet {
  private constructor(
    readonly tariffs: Map<string, CompiledTariff>,
    private readonly rules: Array<MappingRule & { matcher?: RegExp }>,
    readonly defaultTariff: string | undefined,
    /** Tariffs that did not compile, with their problems (only with `partial`). */
    readonly invalid: Map<string, { utility?: unknown; problems: TariffProblem[] }>,
    /** Usable, but probably not what was meant (a tariff without a time zone runs on UTC). */
    readonly warnings: NamedProblem[],
  ) {}

  /** Builds the set or throws a TariffSetError listing every problem with its tariff and field. */
  static build(config: TariffSetConfig, options: BuildOptions = {}): TariffSet {
    const problems: NamedProblem[] = [];
    const invalid = new Map<string, { utility?: unknown; problems: TariffProblem[] }>();
    const warnings: NamedProblem[] = [];
    const documents = parseJson(config.tariffs, 'tariffs', problems);
    const tariffs = new Map<string, CompiledTariff>();
    if (documents === undefined && problems.length === 0) {
      problems.push({ tariff: '', path: 'tariffs', message: 'define at least one tariff' });
    } else if (
      documents !== undefined &&
      (typeof documents !== 'object' || documents === null || Array.isArray(documents))
    ) {
      problems.push({
        tariff: '',
        path: 'tariffs',
        message: 'must be an object of tariff name -> tariff document',
      });
    } else if (documents) {
      const entries = Object.entries(documents as Record<string, unknown>);
      if (entries.length === 0)
        problems.push({ tariff: '', path: 'tariffs', message: 'define at least one tariff' });
      for (const [name, document] of entries) {
        warnings.push(...tariffWarnings(document).map((p) => extend(p, { tariff: name })));
        try {
          tariffs.set(name, compileTariff(document, name));
        } catch (error) {
          if (!(error instanceof TariffValidationError)) throw error;
          if (options.partial) {
            const declared = (document as { utility?: unknown } | null)?.utility;
            invalid.set(name, { utility: declared, problems: error.problems });
          } else problems.push(...error.problems.map((p) => extend(p, { tariff: name })));
        }
      }
    }

    const rulesValue = parseJson(config.mapping, 'mapping', problems) ?? [];
    const rules: Array<MappingRule & { matcher?: RegExp }> = [];
    if (!Array.isArray(rulesValue)) {
      problems.push({
        tariff: '',
        path: 'mapping',
        message: 'must be a list of {account, utility, tariff} rules',
      });
    } else {
      rulesValue.forEach((rule: unknown, i) => {
        const r = rule as MappingRule;
        if (typeof r !== 'object' || r === null || typeof r.tariff !== 'string') {
          problems.push({ tariff: '', path: `mapping[${i}].tariff`, message: 'must name a tariff' });
        } else if (
          tariffs.size > 0 &&
          !tariffs.has(r.tariff) &&
          !invalid.has(r.tariff) &&
          !problems.some((p) => p.tariff === r.tariff)
        ) {
          problems.push({
            tariff: '',
            path: `mapping[${i}].tariff`,
            message: `"${r.tariff}" is not a defined tariff`,
          });
        } else {
          rules.push(extend(r, { matcher: r.account ? globToRegExp(r.account) : undefined }));
        }
      });
    }

    const defaultTariff = config.defaultTariff || undefined;
    if (
      defaultTariff &&
      tariffs.size > 0 &&
      !tariffs.has(defaultTariff) &&
      !invalid.has(defaultTariff) &&
      !problems.some((p) => p.tariff === defaultTariff)
    ) {
      problems.push({
        tariff: '',
        path: 'defaultTariff',
        message: `"${defaultTariff}" is not a defined tariff`,
      });
    }
    // Not one tariff usable: the node is not configured, as without `partial`.
    if (tariffs.size === 0)
      for (const [name, broken] of invalid)
        problems.push(...broken.problems.map((p) => extend(p, { tariff: name })));
    if (problems.length > 0) throw new TariffSetError(problems);
    return new TariffSet(tariffs, rules, defaultTariff, invalid, warnings);
  }

  /** The named tariff; an invalid one throws its problems, as the message that needed it should fail. */
  private named(name: string): CompiledTariff {
    const tariff = this.tariffs.get(name);
    if (tariff) return tariff;
    const broken = this.invalid.get(name);
    if (broken) throw new TariffValidationError(name, broken.problems);
    throw new Error(
      `tariff "${name}" is not defined in this node (defined: ${[...this.tariffs.keys(), ...this.invalid.keys()].join(', ')})`,
    );
  }

  /** The tariff for a consumption, or an Error saying why none applies. */
  choose(
    requested: string | undefined,
    accountId: string | undefined,
    utility: string | undefined,
  ): CompiledTariff {
    if (requested) return this.named(requested);
    for (const rule of this.rules) {
      if (rule.matcher && !(accountId !== undefined && rule.matcher.test(accountId))) continue;
      if (rule.utility && rule.utility !== utility) continue;
      return this.named(rule.tariff);
    }
    if (this.defaultTariff) return this.named(this.defaultTariff);
    // The only tariff for the utility, counting invalid ones: a broken tariff is never stood in for by another.
    const byUtility = [
      ...[...this.tariffs.values()].map((t) => [t.name, t.utility] as const),
      ...[...this.invalid.entries()].map(([name, t]) => [name, t.utility] as const),
    ].filter(([, u]) => u === undefined || u === utility);
    if (byUtility.length === 1) return this.named((byUtility[0] as readonly [string, unknown])[0]);
    throw new Error(
      `no tariff applies to account "${accountId ?? '?'}" (${utility ?? 'no utility'}): set msg.tariff, a mapping rule or a default tariff`,
    );
  }
}
