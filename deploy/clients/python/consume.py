#!/usr/bin/env python3
"""Read one of smaint's topics from Python and print its records as JSON.

Uses confluent-kafka and the Avro reference library (Debian's
python3-confluent-kafka and python3-avro). smaint writes Avro
single-object encoding when it runs without a schema registry: 0xC3 0x01,
an 8-byte schema fingerprint, then the Avro binary body. Each topic holds
one record type, so the body is read with that type's schema file. The
consumer reads committed records only (isolation.level read_committed),
as every consumer of a transactional producer should: smaint writes
exactly once, in transactions.

    consume.py --brokers localhost:9092 --topic sensor.readings.clean \
        --schema sensor_reading.avsc [--group my-app] [--until-end]

`smaint schemas print NAME` prints a schema file.
"""
import argparse
import datetime
import io
import json
import sys

import avro.io
import avro.schema
from confluent_kafka import Consumer, KafkaError


def decode(reader, value):
    if value[:2] != b"\xc3\x01":
        raise ValueError("not Avro single-object encoding: %r" % value[:2])
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(value[10:])))


def as_json(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    raise TypeError(type(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schema", required=True, help="the topic's record .avsc file")
    ap.add_argument("--group", default="smaint-python-example")
    ap.add_argument("--until-end", action="store_true", help="stop at the end of every partition")
    args = ap.parse_args()

    with open(args.schema) as f:
        reader = avro.io.DatumReader(avro.schema.parse(f.read()))
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    consumer.subscribe([args.topic])
    at_end, n = set(), 0
    try:
        while True:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    assigned = consumer.assignment()
                    if args.until_end and assigned and len(at_end) >= len(assigned):
                        break
                    continue
                raise SystemExit(msg.error())
            at_end.discard(msg.partition())
            record = decode(reader, msg.value())
            print(json.dumps({"partition": msg.partition(), "key": msg.key().decode(), "value": record}, default=as_json))
            n += 1
    finally:
        consumer.close()
    print("consumed %d records" % n, file=sys.stderr)


if __name__ == "__main__":
    main()
