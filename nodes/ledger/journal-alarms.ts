/**
 * Alarms about the ledger's intake journal, raised once as a level is crossed and cleared when it is left:
 * the backlog of postings waiting for the store (a long outage), and the journal's reserve running out (the
 * disk is full and the journal cannot grow: the next postings will be refused).
 */
import type { IntakeJournal } from './intake-journal';

export interface JournalAlarm {
  type: 'journal-backlog' | 'journal-full';
  alarm: boolean;
  text: string;
  backlog: number;
  bytes: number;
  reserveLeft: number;
}

/** Backlog levels that raise an alarm (each once, cleared below half of it). */
const BACKLOG_LEVELS = [1_000, 10_000, 100_000, 1_000_000];
const RESERVE_LOW = 4 << 20;

export class JournalAlarms {
  private backlogLevel = 0;
  private full = false;

  constructor(private readonly raise: (alarm: JournalAlarm) => void) {}

  check(backlog: number, journal: Pick<IntakeJournal, 'bytes' | 'reserveLeft' | 'growthProblem'>): void {
    const facts = { backlog, bytes: journal.bytes, reserveLeft: journal.reserveLeft };
    let level = this.backlogLevel;
    while (level < BACKLOG_LEVELS.length && backlog >= (BACKLOG_LEVELS[level] as number)) level += 1;
    while (level > 0 && backlog < (BACKLOG_LEVELS[level - 1] as number) / 2) level -= 1;
    if (level !== this.backlogLevel) {
      this.backlogLevel = level;
      this.raise({
        type: 'journal-backlog',
        alarm: level > 0,
        text:
          level > 0
            ? `${backlog} postings journaled, waiting for the store (${Math.round(journal.bytes / 1024)} KiB on disk)`
            : `journal backlog down to ${backlog}`,
        ...facts,
      });
    }
    const full = journal.growthProblem !== undefined && journal.reserveLeft < RESERVE_LOW;
    if (full !== this.full) {
      this.full = full;
      this.raise({
        type: 'journal-full',
        alarm: full,
        text: full
          ? `the intake journal cannot grow (${journal.growthProblem}); ${Math.round(journal.reserveLeft / 1024)} KiB of reserve left, then postings are refused`
          : 'the intake journal can grow again',
        ...facts,
      });
    }
  }
}
