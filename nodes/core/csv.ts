/**
 * CSV cells for the package's exports (RFC 4180 quoting), safe to open in a spreadsheet: text that a
 * spreadsheet would run as a formula is neutralised (neutralisedText); figures the export wrote itself are
 * wrapped in a NumberCell and kept as they are, so a negative amount stays a number that sums add up.
 */

/** A figure the export wrote itself ("-12.50", a sequence number): a number to the spreadsheet, kept as it is. */
export class NumberCell {
  constructor(readonly text: string) {}
}

export const csvNumber = (value: string | number): NumberCell => new NumberCell(String(value));

/**
 * Text that a spreadsheet must show, not run (OWASP, CSV injection): a cell starting with =, +, -, @, a tab or a
 * carriage return is read as a formula by Excel, LibreOffice and Google Sheets, so such a text cell gets a
 * leading apostrophe. Amounts do not pass through here: they are numbers the export wrote, and prefixing the
 * minus of "-12.50" would turn every debit into text that no sum adds up. Text the package was given (account
 * ids, tenant names, references, reasons, methods) is always treated as text, even when it looks like a number.
 */
export function neutralisedText(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** One CSV field, quoted when it holds a separator, quote or line break (RFC 4180). */
export function csvField(value: unknown): string {
  const text =
    value instanceof NumberCell
      ? value.text
      : neutralisedText(value === undefined || value === null ? '' : String(value));
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(values: unknown[]): string {
  return values.map(csvField).join(',');
}
