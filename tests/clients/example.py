"""example.py -- gmm from Python's standard sqlite3 module.

From the repository root, with an interpreter whose sqlite3 module can load
extensions (Debian's /usr/bin/python3 can):

    /usr/bin/python3 tests/clients/example.py [extension]

Fits Old Faithful, clusters it, reads the model back; prints "ok python".
"""
import json
import sqlite3
import sys

db = sqlite3.connect(":memory:")
db.enable_load_extension(True)
db.load_extension(sys.argv[1] if len(sys.argv) > 1 else "./gmm")
db.enable_load_extension(False)
with open("sql/faithful.sql") as f:
    db.executescript(f.read())

model = db.execute("SELECT gmm_fit(2, eruptions, waiting) FROM faithful").fetchone()[0]
sizes = [n for (n,) in db.execute(
    "SELECT count(*) FROM faithful GROUP BY gmm_predict(?, eruptions, waiting) ORDER BY 1",
    (model,))]
info = json.loads(db.execute("SELECT gmm_info(?)", (model,)).fetchone()[0])
proba = json.loads(db.execute("SELECT gmm_predict_proba(?, 3.0, 70)", (model,)).fetchone()[0])
label = db.execute("SELECT gmm_predict(?, 3.0, 70)", (model,)).fetchone()[0]

assert isinstance(model, bytes), type(model)
assert sizes == [97, 175], sizes
assert info["k"] == 2 and info["n_samples"] == 272 and info["converged"], info
assert abs(info["log_likelihood"] - -1130.264) < 1e-3, info["log_likelihood"]
assert abs(sum(proba) - 1) < 1e-9 and round(max(proba), 3) == 0.963, proba
assert proba[label] == max(proba), (label, proba)
print("ok python")
