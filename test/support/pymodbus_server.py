"""An independent Modbus TCP server for the tests: Debian's python3-pymodbus serving a register image.

usage: python3 pymodbus_server.py PORT IMAGE.json          (Modbus TCP on 127.0.0.1:PORT)
       python3 pymodbus_server.py /dev/pts/N IMAGE.json    (Modbus RTU on a serial device, 9600 8N1)
IMAGE.json: {"units": {"1": {"hr": {"72": [17530, 7864]}, "ir": {...}, "co": {"0": [1]}}}}
Addresses are protocol addresses (zero_mode=True, or pymodbus shifts them by one). A unit with "sparse": true
has only the registers its image lists: a read touching any other answers exception 2 (illegal data address),
as a meter variant does for values its map lacks; otherwise every register 0-3999 reads (unset ones as 0).
Prints "ready" when it listens and stops when its parent closes stdin. A line "set UNIT TABLE ADDRESS W1,W2"
on stdin (TABLE one of hr, ir, co, di) changes registers while it serves, as a meter's counter moves; it
answers "set ok".
"""
import json
import sys
import threading
import os

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSparseDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer


def block(spec, sparse=False):
    if sparse:
        return ModbusSparseDataBlock({int(start): words for start, words in (spec or {}).items()})
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
        sparse = spec.get("sparse") is True
        slaves[int(unit)] = ModbusSlaveContext(
            di=block(spec.get("di"), sparse),
            co=block(spec.get("co"), sparse),
            hr=block(spec.get("hr"), sparse),
            ir=block(spec.get("ir"), sparse),
            zero_mode=True,
        )
    context = ModbusServerContext(slaves=slaves, single=False)

    tables = {"co": 1, "di": 2, "hr": 3, "ir": 4}

    def watch_parent():
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 5 and parts[0] == "set":
                words = [int(word) for word in parts[4].split(",")]
                slaves[int(parts[1])].setValues(tables[parts[2]], int(parts[3]), words)
                print("set ok", flush=True)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    threading.Timer(0.5, lambda: print("ready", flush=True)).start()
    if where.isdigit():
        StartTcpServer(context=context, address=("127.0.0.1", int(where)))
    else:
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=where, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)


if __name__ == "__main__":
    main()
