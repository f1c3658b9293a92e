#!/bin/sh
# wheel.sh -- the Python package sqlite_gmm as a wheel, README's blocks run
# as written: the "install-python-sh" block (`make wheel`, a virtual
# environment of Debian's python3 with --system-site-packages, `pip install
# --no-index` of the wheel file: nothing from a registry), then the
# "install-python" block with the environment's interpreter (it prints
# __version__ and gmm_version(), which must be equal). Then:
#   - the wheel holds exactly sqlite_gmm/__init__.py, sqlite_gmm/gmm.so (mode
#     0755) and sqlite_gmm-VERSION.dist-info/{METADATA,WHEEL,RECORD} (and
#     dist-info/LICENSE when the repository has one), RECORD's hashes and
#     sizes are right, and python/make_wheel.py run again on the wheel's own
#     module writes the same bytes;
#   - outside the repository (so that its ./gmm.so cannot be picked up), the
#     installed package fits Old Faithful (cluster sizes 97 and 175, gmm_info
#     k 2 and n_samples 272), loadable_path() is in the environment's
#     site-packages and is the module the process mapped, and __version__ is
#     gmm_version(), GMM_VERSION of ext/core/gmm.h and the version of the
#     extension given;
#   - `pip uninstall -y sqlite-gmm` removes the package.
#
# In README's shell block, `make` becomes $GMM_MAKE, `python3` becomes
# $PYTHON and the path `venv` a directory under a temporary one; nothing
# else changes, and it runs from the repository root.
#
# Usage: sh tests/clients/wheel.sh [extension path without suffix]
#   PYTHON    the interpreter (default /usr/bin/python3: Debian's, whose
#             sqlite3 module can load extensions)
#   GMM_MAKE  make, with any -f option (default make)
# When $PYTHON has no venv or ensurepip module, Debian's python3-venv is
# installed with apt-get when running as root; otherwise the exact command
# is printed. Prints "ok wheel" and exits 0 when every check passes.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
PYTHON=${PYTHON:-/usr/bin/python3}
GMM_MAKE=${GMM_MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-wheel.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
VENV=$tmp/venv
work=$tmp/work
mkdir "$work" || exit 1
export PYTHON GMM_MAKE VENV

# Only the wheel and the interpreter's own paths: no PYTHONPATH, no user
# site-packages; pip neither asks nor looks for a newer pip.
unset PYTHONPATH PYTHONHOME
PYTHONNOUSERSITE=1
PIP_DISABLE_PIP_VERSION_CHECK=1
PIP_NO_INPUT=1
export PYTHONNOUSERSITE PIP_DISABLE_PIP_VERSION_CHECK PIP_NO_INPUT

fail() {
  echo "FAIL wheel: $*"
  exit 1
}
# show FILE: FILE's lines, indented.
show() { sed 's/^/    /' "$1"; }

case $(uname -s) in Darwin) suffix=dylib ;; *) suffix=so ;; esac
version=$(sed -n 's/^#define GMM_VERSION "\(.*\)"/\1/p' ext/core/gmm.h)
[ -n "$version" ] || fail "no GMM_VERSION in ext/core/gmm.h"
command -v "$PYTHON" >/dev/null 2>&1 || fail "no $PYTHON"

# ---- venv and ensurepip (Debian: python3-venv) -------------------------------------

if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing with apt-get: python3-venv"
    if apt-get update -qq >"$tmp/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >>"$tmp/apt.log" 2>&1; then
      echo "installed (apt-get): python3-venv"
    else
      show "$tmp/apt.log"
      fail "apt-get failed; run: apt-get update && apt-get install -y python3-venv"
    fi
  else
    fail "$PYTHON has no venv or ensurepip module; install them with: sudo apt-get update && sudo apt-get install -y python3-venv"
  fi
  "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
    fail "$PYTHON still has no venv or ensurepip module after installing python3-venv"
fi

# The version of the extension given, loaded from the repository.
ext_version=$("$PYTHON" -c '
import sqlite3, sys
db = sqlite3.connect(":memory:")
db.enable_load_extension(True)
db.load_extension(sys.argv[1])
print(db.execute("SELECT gmm_version()").fetchone()[0])' "$ext" 2>&1) ||
  fail "$PYTHON cannot load $ext: $ext_version"
[ "$ext_version" = "$version" ] ||
  fail "gmm_version() of $ext is $ext_version, GMM_VERSION of ext/core/gmm.h is $version"

# ---- README's shell block ------------------------------------------------------------

sh tests/clients/readme_block.sh install-python-sh >"$tmp/block.sh" || fail "no install-python-sh block in README.md"
# make -> $GMM_MAKE, python3 -> $PYTHON, the path venv -> $VENV (not the
# module name in `-m venv`).
# shellcheck disable=SC2016 # $GMM_MAKE, $PYTHON and $VENV expand when the block runs
sed -E -e 's/^make([[:space:]])/$GMM_MAKE\1/' \
  -e 's/^python3([[:space:]])/"$PYTHON"\1/' \
  -e 's/-m venv([[:space:]])/-m @venv-module@\1/' \
  -e 's#(^|[[:space:]])venv(/|[[:space:]]|$)#\1"$VENV"\2#g' \
  -e 's/@venv-module@/venv/' "$tmp/block.sh" >"$tmp/install.sh"
# shellcheck disable=SC2016 # the block's text, not expanded
if ! grep -q '^\$GMM_MAKE wheel' "$tmp/install.sh" || ! grep -q '^"\$PYTHON" -m venv .*"\$VENV"' "$tmp/install.sh" ||
  ! grep -q '^"\$VENV"/bin/pip install --no-index ' "$tmp/install.sh" ||
  grep -Eq '(^|[[:space:]])(venv/|python3 |make )|[[:space:]]venv$' "$tmp/install.sh"; then
  echo "README's block:"
  show "$tmp/block.sh"
  echo "  as this test would run it:"
  show "$tmp/install.sh"
  fail "README's install-python-sh block is not 'make wheel', 'python3 -m venv ... venv', 'venv/bin/pip install --no-index ...'"
fi
if ! sh -e "$tmp/install.sh" >"$tmp/install.log" 2>&1; then
  echo "README's block, as run:"
  show "$tmp/install.sh"
  echo "  its output:"
  show "$tmp/install.log"
  fail "README's install-python-sh block failed"
fi

platform=$("$PYTHON" -c 'import re, sysconfig; print(re.sub(r"[-.]", "_", sysconfig.get_platform()))')
whl=build/wheel/sqlite_gmm-$version-py3-none-$platform.whl
[ -f "$whl" ] || fail "no $whl after make wheel: $(ls build/wheel 2>&1)"
[ "$(ls build/wheel/sqlite_gmm-*.whl)" = "$whl" ] || fail "build/wheel holds more than $whl: $(ls build/wheel)"
grep -qx "$whl" "$tmp/install.log" || {
  show "$tmp/install.log"
  fail "make wheel did not print $whl"
}

# ---- the wheel's contents ------------------------------------------------------------

license=0
[ -f LICENSE ] && license=1
cat >"$tmp/inspect.py" <<'EOF'
import base64, csv, hashlib, io, os, sys, time, zipfile
whl, version, platform, suffix, license = sys.argv[1:6]
dist = "sqlite_gmm-%s.dist-info" % version
module = "sqlite_gmm/gmm." + suffix
# Every entry's time: 1980-01-01 00:00:00, or SOURCE_DATE_EPOCH (UTC) when set.
date_time = (1980, 1, 1, 0, 0, 0)
if os.environ.get("SOURCE_DATE_EPOCH"):
    date_time = max(date_time, time.gmtime(int(os.environ["SOURCE_DATE_EPOCH"]))[:6])
expected = {"sqlite_gmm/__init__.py", module, dist + "/METADATA", dist + "/WHEEL", dist + "/RECORD"}
if license == "1":
    expected.add(dist + "/LICENSE")
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
    assert sorted(names) == sorted(expected), ("the files in the wheel", names, "expected", sorted(expected))
    assert z.testzip() is None, "a CRC error in " + z.testzip()
    for info in z.infolist():
        mode = info.external_attr >> 16
        want = 0o100755 if info.filename == module else 0o100644
        assert mode == want, "%s has mode %o, not %o" % (info.filename, mode, want)
        assert info.date_time == date_time, (info.filename, info.date_time, "not", date_time)
    data = {name: z.read(name) for name in names}
rows = list(csv.reader(io.StringIO(data[dist + "/RECORD"].decode("utf-8"))))
assert sorted(r[0] for r in rows) == sorted(names), ("RECORD lists", [r[0] for r in rows])
for name, digest, size in rows:
    if name == dist + "/RECORD":
        assert digest == "" and size == "", ("RECORD's own row", digest, size)
        continue
    h = base64.urlsafe_b64encode(hashlib.sha256(data[name]).digest()).rstrip(b"=").decode()
    assert digest == "sha256=" + h, ("RECORD's hash of", name, digest, h)
    assert size == str(len(data[name])), ("RECORD's size of", name, size, len(data[name]))
metadata = data[dist + "/METADATA"].decode("utf-8").splitlines()
for line in ("Metadata-Version: 2.1", "Name: sqlite-gmm", "Version: " + version, "Requires-Python: >=3.8"):
    assert line in metadata, ("METADATA has no line", line, metadata)
assert any(l.startswith("Summary: ") for l in metadata), metadata
wheel = data[dist + "/WHEEL"].decode("utf-8").splitlines()
for line in ("Wheel-Version: 1.0", "Root-Is-Purelib: false", "Tag: py3-none-" + platform):
    assert line in wheel, ("WHEEL has no line", line, wheel)
assert any(l.startswith("Generator: ") for l in wheel), wheel
init = data["sqlite_gmm/__init__.py"].decode("utf-8")
assert ('\n__version__ = "%s"\n' % version) in init, "__init__.py: no __version__ = \"%s\"" % version
for name in names:
    print("%9d %s" % (len(data[name]), name))
EOF
(cd "$work" && "$PYTHON" "$tmp/inspect.py" "$root/$whl" "$version" "$platform" "$suffix" "$license") \
  >"$tmp/inspect.log" 2>&1 || {
  show "$tmp/inspect.log"
  fail "the files of $whl"
}

# make_wheel.py again, on the module out of the wheel: the same bytes.
if ! "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
  "$whl" "sqlite_gmm/gmm.$suffix" "$tmp/lib" >"$tmp/again.log" 2>&1 ||
  ! "$PYTHON" python/make_wheel.py "$tmp/lib/sqlite_gmm/gmm.$suffix" "$tmp/again" >>"$tmp/again.log" 2>&1; then
  show "$tmp/again.log"
  fail "python/make_wheel.py on the module out of $whl"
fi
cmp "$whl" "$tmp/again/${whl##*/}" >>"$tmp/again.log" 2>&1 || {
  show "$tmp/again.log"
  fail "python/make_wheel.py run again does not write the same bytes as $whl"
}

# ---- README's Python block, from outside the repository --------------------------------

sh tests/clients/readme_block.sh install-python >"$tmp/block.py" || fail "no install-python block in README.md"
out=$(cd "$work" && "$VENV/bin/python" "$tmp/block.py" 2>&1) || {
  printf '%s\n' "$out" | sed 's/^/    /'
  fail "README's install-python block failed in the virtual environment"
}
[ "$out" = "$version $version" ] ||
  fail "README's install-python block printed '$out', not '$version $version' (__version__ and gmm_version())"

# ---- the installed package ---------------------------------------------------------------

cat >"$tmp/check.py" <<'EOF'
import json, os, sqlite3, sys, sysconfig
faithful, root, venv, version, suffix = sys.argv[1:6]
import sqlite_gmm
real = os.path.realpath
assert real(sys.prefix) == real(venv) and sys.prefix != sys.base_prefix, ("not the venv", sys.prefix)
site = real(sysconfig.get_paths()["platlib"])
path = sqlite_gmm.loadable_path()
assert os.path.isabs(path), ("loadable_path() is not absolute", path)
assert os.path.basename(path) == "gmm", ("loadable_path() is not .../gmm", path)
for p in (path, sqlite_gmm.__file__):
    assert real(p).startswith(site + os.sep), ("not in the venv's site-packages", p, site)
    assert not real(p).startswith(real(root) + os.sep), ("in the repository", p)
module = path + "." + suffix
assert os.path.isfile(module) and os.access(module, os.X_OK), ("no executable module", module)

db = sqlite3.connect(":memory:")
db.enable_load_extension(True)
sqlite_gmm.load(db)
db.enable_load_extension(False)
gmm_version = db.execute("SELECT gmm_version()").fetchone()[0]
assert sqlite_gmm.__version__ == gmm_version == version, (sqlite_gmm.__version__, gmm_version, version)

# The module this process mapped is the venv's, and no other gmm module.
if os.path.exists("/proc/self/maps"):
    with open("/proc/self/maps") as f:
        mapped = {l.split(None, 5)[5].strip() for l in f if len(l.split(None, 5)) == 6}
    gmm = {m for m in mapped if os.path.basename(m).startswith("gmm.")}
    assert gmm == {real(module)}, ("mapped", gmm, "not", real(module))

with open(faithful) as f:
    db.executescript(f.read())
model = db.execute("SELECT gmm_fit(2, eruptions, waiting) FROM faithful").fetchone()[0]
sizes = [n for (n,) in db.execute(
    "SELECT count(*) FROM faithful GROUP BY gmm_predict(?, eruptions, waiting) ORDER BY 1", (model,))]
assert sizes == [97, 175], sizes
info = json.loads(db.execute("SELECT gmm_info(?)", (model,)).fetchone()[0])
assert info["k"] == 2 and info["n_samples"] == 272, info
print("ok check")
EOF
out=$(cd "$work" && "$VENV/bin/python" "$tmp/check.py" "$root/sql/faithful.sql" "$root" "$VENV" "$version" \
  "$suffix" 2>&1) || {
  printf '%s\n' "$out" | sed 's/^/    /'
  fail "the installed sqlite_gmm"
}
[ "$out" = "ok check" ] || fail "the check of the installed sqlite_gmm printed: $out"

# ---- pip uninstall -----------------------------------------------------------------------

site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])') ||
  fail "no site-packages in $VENV"
[ -d "$site/sqlite_gmm" ] || fail "no $site/sqlite_gmm before pip uninstall"
(cd "$work" && "$VENV/bin/pip" uninstall -y sqlite-gmm) >"$tmp/uninstall.log" 2>&1 || {
  show "$tmp/uninstall.log"
  fail "pip uninstall -y sqlite-gmm"
}
left=$(ls -d "$site"/sqlite_gmm* 2>/dev/null)
[ -z "$left" ] || fail "pip uninstall -y sqlite-gmm left: $left"
if out=$(cd "$work" && "$VENV/bin/python" -c 'import sqlite_gmm; print(sqlite_gmm.__file__)' 2>&1); then
  fail "sqlite_gmm still imports after pip uninstall: $out"
fi

echo "ok wheel"
