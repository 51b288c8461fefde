/**
 * The installation guide (docs/INSTALL.md) as the tests read it, so the guide shows what the tests run:
 * the files it includes (each code block after a `<!-- file: docs/examples/... -->` line) and the options
 * of the commands in its shell blocks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..', '..');
export const GUIDE = join(ROOT, 'docs', 'INSTALL.md');

export function guideText(): string {
  return readFileSync(GUIDE, 'utf8');
}

/** The lines of the guide's shell blocks, continuation lines joined. */
export function guideShellLines(): string[] {
  const lines: string[] = [];
  for (const match of guideText().matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm))
    lines.push(...(match[1] as string).replace(/\\\n\s*/g, '').split('\n'));
  return lines.map((line) => line.trim()).filter(Boolean);
}

/**
 * The command and its options (words starting with "-", not `--dbname=` and the like that name the site's
 * things) from the first line of a shell block that runs `name`, after any `sudo` or `sudo -u <user>`.
 */
export function guideCommand(name: string, siteOptions = /^--(dbname|file)=/): string[] {
  for (const line of guideShellLines()) {
    const words = line.replace(/^sudo (-u \S+ )?/, '').split(/\s+/);
    if (words[0] !== name) continue;
    return [name, ...words.slice(1).filter((w) => w.startsWith('-') && !siteOptions.test(w))];
  }
  throw new Error(`docs/INSTALL.md runs no \`${name}\` in a shell block`);
}

/** The files the guide includes, with the text it shows for each. */
export function guideFiles(): Array<{ file: string; text: string }> {
  return [...guideText().matchAll(/^<!-- file: (\S+) -->\n+```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => ({
    file: m[1] as string,
    text: m[2] as string,
  }));
}

/** The guide's command for a self-signed certificate (docs/INSTALL.md, "HTTPS"), run in the TLS folder. */
export const OPENSSL_SELF_SIGNED = [
  'req',
  '-x509',
  '-newkey',
  'rsa:3072',
  '-sha256',
  '-nodes',
  '-days',
  '825',
  '-keyout',
  'key.pem',
  '-out',
  'cert.pem',
];
