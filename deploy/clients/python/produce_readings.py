#!/usr/bin/env python3
"""Produce sensor readings to smaint from Python, as a gateway would.

Uses confluent-kafka (librdkafka, with its default partitioner) and the
Avro reference library, both from Debian (python3-confluent-kafka,
python3-avro). Readings are Avro single-object encoded, which needs no
schema registry: 0xC3 0x01, the schema's 8-byte CRC-64-AVRO fingerprint
(little endian), then the Avro binary body. Each record is keyed by its
sensor id, so a sensor's readings stay on one partition, in order.

    produce_readings.py --brokers localhost:9092 --schema sensor_reading.avsc \
        --sensors 24 --seconds 800

`smaint schemas print SensorReading` prints the schema file.
"""
import argparse
import datetime
import io
import random
import uuid

import avro.io
import avro.schema
from confluent_kafka import Producer


def crc64_avro(data):
    """The CRC-64-AVRO (Rabin) fingerprint of data, per the Avro spec."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


class SingleObjectWriter:
    """Encodes records of one schema in Avro single-object encoding."""

    def __init__(self, schema):
        self.writer = avro.io.DatumWriter(schema)
        fp = crc64_avro(schema.canonical_form.encode("utf-8"))
        self.header = b"\xc3\x01" + fp.to_bytes(8, "little")

    def encode(self, record):
        buf = io.BytesIO()
        buf.write(self.header)
        self.writer.write(record, avro.io.BinaryEncoder(buf))
        return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", default="sensor.readings")
    ap.add_argument("--schema", required=True, help="the SensorReading .avsc file")
    ap.add_argument("--sensors", type=int, default=24)
    ap.add_argument("--seconds", type=int, default=800, help="event-time span, one reading a second a sensor")
    ap.add_argument("--start", type=float, help="event time of the first readings, Unix seconds (default: now - seconds)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with open(args.schema) as f:
        schema = avro.schema.parse(f.read())
    enc = SingleObjectWriter(schema)
    rng = random.Random(args.seed)
    start = args.start if args.start is not None else datetime.datetime.now().timestamp() - args.seconds
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    sensors = [("pump-%02d" % (i // 4), "pump-%02d-%s" % (i // 4, t), t)
               for i, t in zip(range(args.sensors), ["temperature", "vibration", "pressure", "current"] * args.sensors)]
    sent = 0
    for second in range(args.seconds):
        ts = datetime.datetime.fromtimestamp(start + second, tz=datetime.timezone.utc)
        for asset, sensor, kind in sensors:
            reading = {
                "reading_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "sensor_id": sensor,
                "asset_id": asset,
                "sensor_type": kind,
                "ts": ts,
                "value": 20.0 + rng.gauss(0, 1),
                "unit": "C" if kind == "temperature" else "u",
                "quality": 95,
                "tags": {"site": "python"},
            }
            while True:
                try:
                    producer.produce(args.topic, key=sensor.encode(), value=enc.encode(reading))
                    break
                except BufferError:
                    producer.poll(0.1)
            sent += 1
        producer.poll(0)
    left = producer.flush(60)
    if left:
        raise SystemExit("%d readings not acknowledged" % left)
    print("produced %d readings" % sent)


if __name__ == "__main__":
    main()
