"""I/O growth (H3): batches of rows appended to an indexed SQLite table with random keys and a
small page cache; as the index grows each batch touches more pages, so the bytes read and
written per batch grow.

    python examples/slowdowns/io_growth.py [UNITS] [DB]
"""

import os
import random
import sqlite3
import sys
import tempfile

from _common import mark, size

folder = tempfile.mkdtemp(prefix="nrm-io-growth-")
path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(folder, "grow.db")
db = sqlite3.connect(path)
db.execute("PRAGMA cache_size = -64")  # 64 KiB: the index soon outgrows it
db.execute("PRAGMA synchronous = OFF")  # no fsync: seconds at test size, page cache I/O only
db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT, payload TEXT)")
db.execute("CREATE INDEX events_key ON events (key)")
rng = random.Random(1)
try:
    for _ in range(size(600)):
        rows = [(f"{rng.getrandbits(64):016x}", "x" * 40) for _ in range(200)]
        db.executemany("INSERT INTO events (key, payload) VALUES (?, ?)", rows)
        db.commit()
        mark()
finally:
    db.close()
    if len(sys.argv) <= 2:
        os.unlink(path)
        os.rmdir(folder)
