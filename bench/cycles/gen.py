#!/usr/bin/env python3
"""Write the daily-cycle series of the detection benchmark (bench/detection.sh).

Twelve series of 14 days of 5-minute values, as slow plant sensors send
them: a daily cycle (amplitude 2 to 20), noise (2% to 10% of it), a slow
drift, and two labelled anomalies each after the fourth day (an hour-scale
level shift of 6 to 12 noise spreads, a 10-minute spike of three times
that, or a few hours in which the cycle's swing grows by half). Columns:
timestamp, value, anomaly (1 while one is under way). Seeded: the same
files every time.

    gen.py DIR
"""
import datetime
import math
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
random.seed(11)
t0 = datetime.datetime(2026, 11, 1)
for k in range(12):
    amp = random.choice([2, 5, 10, 20]); noise = random.choice([0.1, 0.3, 0.5]) * amp / 5
    level = random.uniform(10, 100); phase = random.uniform(0, 2 * math.pi); drift = random.uniform(-1, 1) * amp / 14
    n = 14 * 288
    anomalies = []
    for a in range(2):
        at = random.randint(4 * 288, n - 60)
        kind = random.choice(['shift', 'spike', 'stretch'])
        size = random.uniform(6, 12) * noise * random.choice([-1, 1])
        dur = {'shift': random.randint(12, 36), 'spike': 2, 'stretch': random.randint(24, 48)}[kind]
        anomalies.append((at, dur, kind, size))
    with open(os.path.join(out, f'series-{k:02d}.csv'), 'w') as f:
        f.write('timestamp,value,anomaly\n')
        for i in range(n):
            day = 2 * math.pi * i / 288
            v = level + amp * math.sin(day + phase) + drift * i / 288 + random.gauss(0, noise)
            lab = 0
            for at, dur, kind, size in anomalies:
                if at <= i < at + dur:
                    lab = 1
                    if kind == 'stretch':  # the cycle's swing grows
                        v += 0.5 * amp * math.sin(day + phase) * (1 if size > 0 else -1)
                    else:
                        v += size * (3 if kind == 'spike' else 1)
            f.write(f"{(t0 + datetime.timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{v:.4f},{lab}\n")
