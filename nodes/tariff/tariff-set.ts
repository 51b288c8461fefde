/**
 * The tariffs one node prices with, and the rules that pick one for a consumption: a name given
 * by the message, then the mapping table (account pattern and utility), then the default.
 * No Node-RED here: the editor's check endpoint and the runtime build the same TariffSet.
 */
import { compileTariff, TariffProblem, TariffValidationError } from '../core/tariff/compile';
import { CompiledTariff } from '../core/tariff/types';

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

export class TariffSet {
  private constructor(
    readonly tariffs: Map<string, CompiledTariff>,
    private readonly rules: Array<MappingRule & { matcher?: RegExp }>,
    readonly defaultTariff: string | undefined,
  ) {}

  /** Builds the set or throws a TariffSetError listing every problem with its tariff and field. */
  static build(config: TariffSetConfig): TariffSet {
    const problems: NamedProblem[] = [];
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
        try {
          tariffs.set(name, compileTariff(document, name));
        } catch (error) {
          if (!(error instanceof TariffValidationError)) throw error;
          problems.push(...error.problems.map((p) => ({ ...p, tariff: name })));
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
          !problems.some((p) => p.tariff === r.tariff)
        ) {
          problems.push({
            tariff: '',
            path: `mapping[${i}].tariff`,
            message: `"${r.tariff}" is not a defined tariff`,
          });
        } else {
          rules.push({ ...r, matcher: r.account ? globToRegExp(r.account) : undefined });
        }
      });
    }

    const defaultTariff = config.defaultTariff || undefined;
    if (
      defaultTariff &&
      tariffs.size > 0 &&
      !tariffs.has(defaultTariff) &&
      !problems.some((p) => p.tariff === defaultTariff)
    ) {
      problems.push({
        tariff: '',
        path: 'defaultTariff',
        message: `"${defaultTariff}" is not a defined tariff`,
      });
    }
    if (problems.length > 0) throw new TariffSetError(problems);
    return new TariffSet(tariffs, rules, defaultTariff);
  }

  /** The tariff for a consumption, or an Error saying why none applies. */
  choose(
    requested: string | undefined,
    accountId: string | undefined,
    utility: string | undefined,
  ): CompiledTariff {
    if (requested) {
      const tariff = this.tariffs.get(requested);
      if (!tariff)
        throw new Error(
          `tariff "${requested}" is not defined in this node (defined: ${[...this.tariffs.keys()].join(', ')})`,
        );
      return tariff;
    }
    for (const rule of this.rules) {
      if (rule.matcher && !(accountId !== undefined && rule.matcher.test(accountId))) continue;
      if (rule.utility && rule.utility !== utility) continue;
      return this.tariffs.get(rule.tariff) as CompiledTariff;
    }
    if (this.defaultTariff) return this.tariffs.get(this.defaultTariff) as CompiledTariff;
    const byUtility = [...this.tariffs.values()].filter(
      (t) => t.utility === undefined || t.utility === utility,
    );
    if (byUtility.length === 1) return byUtility[0] as CompiledTariff;
    throw new Error(
      `no tariff applies to account "${accountId ?? '?'}" (${utility ?? 'no utility'}): set msg.tariff, a mapping rule or a default tariff`,
    );
  }
}
