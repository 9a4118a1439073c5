#!/usr/bin/env python3
"""Record maintenance done on an asset for smaint, from Python.

Writes one Maintenance record to asset.maintenance, keyed by the asset id,
Avro single-object encoded as produce_readings.py encodes readings (no
schema registry needed). A repair or a replacement renews the asset: the
rul stage ends its remaining-life run at --at: give --renews. Give
--keeps-life for work that does not (an inspection).

    record_maintenance.py --brokers localhost:9092 --schema maintenance.avsc \
        --asset pump-7 --action replacement --renews --at 2026-12-01T08:30:00Z

`smaint schemas print Maintenance` prints the schema file.
"""
import argparse
import datetime

import avro.schema
from confluent_kafka import Producer

from produce_readings import SingleObjectWriter


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", default="asset.maintenance")
    ap.add_argument("--schema", required=True, help="the Maintenance .avsc file")
    ap.add_argument("--asset", required=True)
    ap.add_argument("--action", required=True, help="e.g. repair, replacement, inspection")
    ap.add_argument("--at", help="when the work was done, ISO 8601 with a zone (default: now)")
    life = ap.add_mutually_exclusive_group(required=True)
    life.add_argument("--renews", action="store_true", help="the work renewed the asset (a repair, a replacement)")
    life.add_argument("--keeps-life", action="store_true", help="the work did not renew the asset (an inspection)")
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    with open(args.schema) as f:
        enc = SingleObjectWriter(avro.schema.parse(f.read()))
    at = datetime.datetime.now(datetime.timezone.utc)
    if args.at:
        at = datetime.datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        if at.tzinfo is None:
            ap.error("--at needs a zone, e.g. 2026-12-01T08:30:00Z")
    record = {"asset_id": args.asset, "performed_at": at, "action": args.action,
              "renews": args.renews, "note": args.note}
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    producer.produce(args.topic, key=args.asset.encode(), value=enc.encode(record))
    if producer.flush(30) != 0:
        raise SystemExit("record_maintenance.py: the record was not delivered")
    print("recorded %s on %s at %s" % (args.action, args.asset, at.isoformat()))


if __name__ == "__main__":
    main()
