#!/usr/bin/env python3
"""Post sensor readings to smaint's HTTP API from Python, as a gateway would.

Needs only the standard library for JSON; --avro sends an Avro object
container file written by the Avro reference library (Debian's
python3-avro) instead. Each reading carries a reading_id (a UUID), so a
request retried after a timeout or a 503 is stored once.

    post_readings.py --url http://localhost:8080 --key smk_... \
        --sensors 4 --seconds 60 [--avro --schema sensor_reading.avsc]

`smaint serve newkey NAME write` makes a key; `smaint schemas print
SensorReading` prints the schema file.
"""
import argparse
import datetime
import io
import json
import random
import sys
import time
import urllib.error
import urllib.request
import uuid


def readings(sensors, seconds, start, rng):
    for second in range(seconds):
        ts = datetime.datetime.fromtimestamp(start + second, tz=datetime.timezone.utc)
        for i in range(sensors):
            yield {
                "reading_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "sensor_id": "py-%02d" % i,
                "asset_id": "py-asset",
                "sensor_type": "temperature",
                "ts": ts,
                "value": 20.0 + i + second / 1000.0,
                "unit": "C",
                "quality": 95,
                "tags": {"client": "python"},
            }


def as_json(batch):
    out = []
    for r in batch:
        r = dict(r)
        r["ts"] = r["ts"].isoformat().replace("+00:00", "Z")
        out.append(r)
    return json.dumps({"readings": out}).encode(), "application/json"


def as_avro(batch, schema_file, codec):
    import avro.datafile
    import avro.io
    import avro.schema

    with open(schema_file) as f:
        schema = avro.schema.parse(f.read())
    buf = io.BytesIO()
    w = avro.datafile.DataFileWriter(buf, avro.io.DatumWriter(), schema, codec=codec)
    for r in batch:
        w.append(r)
    w.flush()
    body = buf.getvalue()
    return body, "application/avro"


def post(url, key, body, ctype, request_id):
    """POSTs body, retrying 429 and 503 after Retry-After; returns the answer."""
    for attempt in range(20):
        req = urllib.request.Request(url + "/v1/readings", data=body, method="POST",
                                     headers={"Authorization": "Bearer " + key, "Content-Type": ctype,
                                              "X-Request-Id": request_id})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            answer = json.load(e)
            if e.code in (429, 503):
                time.sleep(float(e.headers.get("Retry-After", "1")))
                continue
            return e.code, answer
    raise SystemExit("gave up after 20 attempts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--batch", type=int, default=100, help="readings per request")
    ap.add_argument("--avro", action="store_true", help="send Avro object container files, not JSON")
    ap.add_argument("--codec", default="deflate", help="Avro codec: null or deflate")
    ap.add_argument("--schema", help="the SensorReading .avsc file (with --avro)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    start = datetime.datetime.now().timestamp() - args.seconds
    rs = list(readings(args.sensors, args.seconds, start, rng))
    accepted = 0
    for n, i in enumerate(range(0, len(rs), args.batch)):
        batch = rs[i:i + args.batch]
        body, ctype = as_avro(batch, args.schema, args.codec) if args.avro else as_json(batch)
        status, answer = post(args.url, args.key, body, ctype, "py-%d" % n)
        if status != 202:
            print("request %d: %d %s" % (n, status, answer), file=sys.stderr)
            raise SystemExit(1)
        accepted += answer["accepted"]
    print(json.dumps({"posted": len(rs), "accepted": accepted}))


if __name__ == "__main__":
    main()
