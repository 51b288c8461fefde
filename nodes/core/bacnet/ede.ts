/**
 * The BACnet Engineering Data Exchange files (B.I.G.-EU EDE, layout 2.3) a BEMS engineer imports instead of
 * discovering and naming thousands of points by hand: the object list (one row per object) and the state texts
 * it refers to. Semicolon-separated, CRLF line ends, as the layout and the tools that read it expect.
 */
import { ObjectType, PropertyId } from './constants';
import { isEventCapable, NOTIFICATION_CLASS } from './events';
import type { PointModel } from './model';
import {
  CREDIT_STATE_TEXTS,
  OVERRIDE_AUTO,
  OVERRIDE_STATE_TEXTS,
  type Point,
  type PointKind,
} from './points';

const HEADER_COLUMNS = [
  'keyname',
  'device obj.-instance',
  'object-name',
  'object-type',
  'object-instance',
  'description',
  'present-value-default',
  'min-present-value',
  'max-present-value',
  'settable',
  'supports COV',
  'hi-limit',
  'low-limit',
  'state-text-reference',
  'unit-code',
  'vendor-specific-address',
  // Not in layout 2.3 (readers ignore columns they do not know): the notification class of an event-capable
  // object, so the BEMS engineer sees which points report alarms and events.
  'notification-class',
];

/** State-text references: row numbers of the state texts file. */
const STATE_TEXT_ROWS: Array<{ kinds: PointKind[]; texts: readonly string[] }> = [
  { kinds: ['credit-state'], texts: CREDIT_STATE_TEXTS },
  { kinds: ['override'], texts: OVERRIDE_STATE_TEXTS },
  // Binary values: inactive text first, then active text.
  { kinds: ['supply'], texts: ['disconnected', 'supplied'] },
  { kinds: ['alarm'], texts: ['normal', 'alarm'] },
];

function stateTextReference(kind: PointKind): string {
  const row = STATE_TEXT_ROWS.findIndex((r) => r.kinds.includes(kind));
  return row < 0 ? '' : String(row + 1);
}

/** A field as the layout needs it: quoted when it holds the separator, a quote or a line break. */
function field(value: string | number): string {
  const text = String(value);
  return /[;"\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function row(cells: Array<string | number>): string {
  return cells.map(field).join(';');
}

/** A row for an object that is listed only: nothing to set or subscribe to, no state texts, units or key. */
function listedRow(
  name: string,
  deviceInstance: number,
  type: number,
  instance: number,
  description: string,
): string {
  return row([
    name,
    deviceInstance,
    name,
    type,
    instance,
    description,
    '',
    '',
    '',
    'N',
    'N',
    '',
    '',
    '',
    '',
    '',
    '',
  ]);
}

function isAnalog(point: Point): boolean {
  return point.type === ObjectType.ANALOG_INPUT || point.type === ObjectType.ANALOG_VALUE;
}

export interface EdeHeader {
  projectName: string;
  author: string;
  /** When the object set last changed (shown as the file's timestamp). */
  timestamp: number;
}

export function edeObjects(model: PointModel, header: EdeHeader): string {
  const device = model.device;
  const lines = [
    '#Engineering-Data-Exchange - B.I.G.-EU',
    row(['PROJECT_NAME', header.projectName]),
    // The database revision identifies this version of the object set.
    row(['VERSION_OF_REFERENCEFILE', model.registry.databaseRevision]),
    row(['TIMESTAMP_OF_LAST_CHANGE', new Date(header.timestamp).toISOString().slice(0, 10)]),
    row(['AUTHOR_OF_LAST_CHANGE', header.author]),
    row(['VERSION_OF_LAYOUT', '2.3']),
    `#${['mandatory', 'mandatory', 'mandatory', 'mandatory', 'mandatory', ...new Array(12).fill('optional')].join(';')}`,
    `# ${HEADER_COLUMNS.join(';')}`,
    listedRow(device.name, device.instance, ObjectType.DEVICE, device.instance, device.info.description),
  ];
  for (const ref of model.objectList()) {
    const point = model.object(ref.type, ref.instance);
    if (!point || point.type === ObjectType.DEVICE) continue;
    if (!('kind' in point)) {
      // The network port and the notification class: listed, nothing to set or subscribe to.
      const description = point.read(PropertyId.DESCRIPTION);
      lines.push(
        listedRow(
          point.name,
          device.instance,
          point.type,
          point.instance,
          'v' in description ? String(description.v) : '',
        ),
      );
      continue;
    }
    const p = point as Point;
    lines.push(
      row([
        p.name,
        device.instance,
        p.name,
        p.type,
        p.instance,
        p.description,
        p.kind === 'override' ? OVERRIDE_AUTO : '',
        '',
        '',
        p.kind === 'override' ? 'Y' : 'N',
        'Y',
        '',
        '',
        stateTextReference(p.kind),
        isAnalog(p) ? p.units : '',
        p.key,
        isEventCapable(p) ? NOTIFICATION_CLASS : '',
      ]),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function edeStateTexts(): string {
  const width = Math.max(...STATE_TEXT_ROWS.map((r) => r.texts.length));
  const titles = ['Reference Number'];
  for (let i = 1; i <= width; i++)
    titles.push(i === 1 ? 'Text 1 or Inactive-Text' : i === 2 ? 'Text 2 or Active-Text' : `Text ${i}`);
  const lines = ['#State Text Reference', `#${titles.join(';')}`];
  STATE_TEXT_ROWS.forEach((r, i) => lines.push(row([i + 1, ...r.texts])));
  return `${lines.join('\r\n')}\r\n`;
}
