// The BEMS tab of the reference site: one BACnet/IP device for the whole site, and the point exporter fed
// with everything the building produces: account states (with days left), consumption, readings, meter
// events, relay commands and supply alarms. Writes to an override point go to the cutoff relay of the meter.
import { IN, OUT, SITE } from './building.mjs';
import { id, TAB } from './ids.mjs';

const z = TAB.bems;

export function bemsTab({ site = SITE } = {}) {
  const device = {
    id: id('bacnet-device'),
    type: 'prepay-bacnet-device',
    name: 'site BACnet device',
    // The UDP port from PREPAY_BACNET_PORT (default 47808, the BACnet/IP port).
    deviceInstance: '412001',
    deviceInstanceType: 'num',
    deviceName: 'prepay-reference-site',
    description:
      'Prepayment metering of the reference commercial centre: balances, supply and meters per tenant',
    location: 'Reference commercial centre, Kuala Lumpur',
    vendorId: 0,
    port: 'PREPAY_BACNET_PORT',
    portType: 'env',
    // Loopback, like the rest of npm start: set the site network's interface (or 0.0.0.0) for a real BEMS.
    address: '127.0.0.1',
    broadcast: '',
    bbmd: '',
    bbmdTtl: 300,
    timeZone: site.timeZone,
    overrides: true,
    overrideMinutes: 240,
  };
  return [
    {
      id: z,
      type: 'tab',
      label: 'BEMS',
      disabled: false,
      info:
        'One BACnet/IP device (instance 412001, UDP port PREPAY_BACNET_PORT or 47808) exposing every tenant: balance, ' +
        'available credit, credit state, days left, alarm, consumption today, supply and override per utility, and ' +
        "every meter register. The EDE export for the BEMS engineer is in the point exporter's edit dialog.",
    },
    device,
    {
      id: id('bems:in'),
      type: 'link in',
      z,
      name: 'everything the building produces',
      links: [
        OUT.states,
        OUT.consumption,
        OUT.readings,
        OUT.meterEvents,
        OUT.relayCommands,
        OUT.supplyAlarms,
      ],
      x: 160,
      y: 100,
      wires: [[id('bacnet')]],
    },
    {
      id: id('bacnet'),
      type: 'prepay-bacnet',
      z,
      name: 'tenant points',
      device: device.id,
      covMoney: '1',
      covConsumption: '1',
      covRegister: '1',
      covDays: '0.5',
      x: 400,
      y: 100,
      wires: [[id('bems:overrides'), id('bems:debug')]],
    },
    {
      id: id('bems:overrides'),
      type: 'link out',
      z,
      name: 'overrides',
      mode: 'link',
      links: [IN.overrides],
      x: 600,
      y: 80,
      wires: [],
    },
    {
      id: id('bems:debug'),
      type: 'debug',
      z,
      name: 'overrides from the BEMS',
      active: true,
      tosidebar: true,
      console: false,
      tostatus: false,
      complete: 'payload',
      targetType: 'msg',
      statusVal: '',
      statusType: 'auto',
      x: 660,
      y: 140,
      wires: [],
    },
  ];
}
