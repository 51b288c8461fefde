"""An independent Modbus TCP server for the tests: Debian's python3-pymodbus serving a register image.

usage: python3 pymodbus_server.py PORT IMAGE.json          (Modbus TCP on 127.0.0.1:PORT)
       python3 pymodbus_server.py /dev/pts/N IMAGE.json    (Modbus RTU on a serial device, 9600 8N1)
IMAGE.json: {"units": {"1": {"hr": {"72": [17530, 7864]}, "ir": {...}, "co": {"0": [1]}}}}
Addresses are protocol addresses (zero_mode=True, or pymodbus shifts them by one). Prints "ready" when
it listens and stops when its parent closes stdin.
"""
import json
import sys
import threading
import os

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer


def block(spec):
    values = [0] * 4000
    for start, words in (spec or {}).items():
        for i, word in enumerate(words):
            values[int(start) + i] = word
    return ModbusSequentialDataBlock(0, values)


def main():
    where = sys.argv[1]
    with open(sys.argv[2]) as handle:
        image = json.load(handle)
    slaves = {}
    for unit, spec in image["units"].items():
        slaves[int(unit)] = ModbusSlaveContext(
            di=block(spec.get("di")), co=block(spec.get("co")), hr=block(spec.get("hr")), ir=block(spec.get("ir")), zero_mode=True
        )
    context = ModbusServerContext(slaves=slaves, single=False)

    def watch_parent():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    threading.Timer(0.5, lambda: print("ready", flush=True)).start()
    if where.isdigit():
        StartTcpServer(context=context, address=("127.0.0.1", int(where)))
    else:
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=where, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)


if __name__ == "__main__":
    main()
