#!/usr/bin/python3
"""make_wheel.py -- the Python package sqlite_gmm as a wheel, standard library only.

Usage: python3 python/make_wheel.py LIB OUTDIR   (what `make wheel` runs)
  LIB     the built loadable module (gmm.so; gmm.dylib on macOS)
  OUTDIR  where the wheel goes (created if missing; `make wheel`: build/wheel)

Writes OUTDIR/sqlite_gmm-VERSION-py3-none-PLATFORM.whl, the convention of
sqlite-vec's wheels: distribution name sqlite-gmm, import name sqlite_gmm.
VERSION is GMM_VERSION of ext/core/gmm.h, PLATFORM is this interpreter's
sysconfig.get_platform() with '-' and '.' made '_' (e.g. linux_x86_64: the
platform the module was built on, not a manylinux tag). The wheel holds
exactly

  sqlite_gmm/__init__.py                 python/sqlite_gmm/__init__.py, version filled in
  sqlite_gmm/gmm.so (or .dylib, .dll)    LIB, mode 0755
  sqlite_gmm-VERSION.dist-info/METADATA, WHEEL, RECORD
  (and dist-info/LICENSE, when the repository has a LICENSE file)

The same inputs give the same bytes: entries in a fixed order (the package's
files, then the dist-info's, RECORD last, each part sorted), every timestamp
1980-01-01 00:00:00 (or SOURCE_DATE_EPOCH, when set), fixed modes. Before
writing, LIB is loaded with this interpreter's sqlite3 (where it can load
extensions) and its gmm_version() must be VERSION. Other sqlite_gmm-*.whl
files in OUTDIR are removed, so that OUTDIR holds the one wheel (README's
`pip install build/wheel/sqlite_gmm-*.whl`). The last line printed is the
path of the wheel written; refusals go to stderr with exit status 1.
"""

import base64
import hashlib
import io
import os
import re
import sys
import sysconfig
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join("ext", "core", "gmm.h")
INIT = os.path.join("python", "sqlite_gmm", "__init__.py")
VERSION_LINE = '__version__ = "@GMM_VERSION@"'
DIST_NAME = "sqlite-gmm"
PACKAGE = "sqlite_gmm"
SUFFIXES = (".so", ".dylib", ".dll")
LICENSES = ("LICENSE",)
# PEP 440, the forms gmm uses: 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev1.
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$")


def refuse(message):
    sys.stderr.write("make_wheel.py: %s\n" % message)
    sys.exit(1)


def read_text(path, what):
    """The text of the file at path; refuses, naming what it was for."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        refuse("cannot read %s: %s: %s" % (what, path, e.strerror))


def read_version():
    """GMM_VERSION from ext/core/gmm.h."""
    text = read_text(os.path.join(ROOT, HEADER), "the version")
    found = re.findall(r'^#define GMM_VERSION "([^"]*)"\s*$', text, re.M)
    if len(found) != 1:
        refuse('cannot read the version: no single line #define GMM_VERSION "X.Y.Z" in %s' % path)
    if not VERSION_RE.match(found[0]):
        refuse('cannot read the version: GMM_VERSION "%s" in %s is not a version a wheel '
               "can carry (PEP 440, e.g. 1.2.3)" % (found[0], path))
    return found[0]


def module_version(lib):
    """gmm_version() of LIB loaded into this interpreter's sqlite3, or None
    when this sqlite3 cannot load extensions."""
    try:
        import sqlite3
    except ImportError:
        return None
    conn = sqlite3.connect(":memory:")
    try:
        if not hasattr(conn, "enable_load_extension"):
            return None
        conn.enable_load_extension(True)
        # The entry point by name: LIB's file name need not be gmm.*.
        conn.execute("SELECT load_extension(?, 'sqlite3_gmm_init')", (os.path.abspath(lib),))
        return conn.execute("SELECT gmm_version()").fetchone()[0]
    except sqlite3.Error as e:
        refuse("LIB %s does not load as the gmm module into %s's sqlite3: %s" % (lib, sys.executable, e))
    finally:
        conn.close()


def timestamp():
    """The entries' date_time: SOURCE_DATE_EPOCH (UTC) or 1980-01-01, the
    earliest a zip file can hold."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch:
        return (1980, 1, 1, 0, 0, 0)
    if not epoch.isdigit():
        refuse("SOURCE_DATE_EPOCH %r is not a number of seconds" % epoch)
    t = time.gmtime(int(epoch))[:6]
    return max(t, (1980, 1, 1, 0, 0, 0))


def digest(data):
    h = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(h).rstrip(b"=").decode("ascii")


def main(argv):
    if len(argv) != 3:
        refuse("usage: python3 python/make_wheel.py LIB OUTDIR (e.g. gmm.so build/wheel)")
    lib, outdir = argv[1], argv[2]
    if not os.path.isfile(lib):
        refuse("LIB %s: no such file (the built module, e.g. gmm.so: run make)" % lib)
    suffix = os.path.splitext(lib)[1]
    if suffix not in SUFFIXES:
        refuse("LIB %s: not a loadable module file (its name ends in %s)" % (lib, ", ".join(SUFFIXES)))
    version = read_version()
    built = module_version(lib)
    if built is None:
        sys.stderr.write("make_wheel.py: note: %s's sqlite3 cannot load extensions; "
                         "gmm_version() of LIB %s not checked\n" % (sys.executable, lib))
    elif built != version:
        refuse("LIB %s has gmm_version() %s, but %s says %s: rebuild it (make)" % (lib, built, HEADER, version))

    init_path = os.path.join(ROOT, INIT)
    init = read_text(init_path, "the package")
    if init.count(VERSION_LINE) != 1:
        refuse("%s has no single line %s to fill in" % (init_path, VERSION_LINE))
    init = init.replace(VERSION_LINE, '__version__ = "%s"' % version)
    with open(lib, "rb") as f:
        module = f.read()

    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    tag = "py3-none-" + platform
    dist_info = "%s-%s.dist-info" % (PACKAGE, version)
    files = {  # name in the wheel: (bytes, mode)
        PACKAGE + "/__init__.py": (init.encode("utf-8"), 0o644),
        PACKAGE + "/gmm" + suffix: (module, 0o755),
    }
    license_file = None
    for name in LICENSES:
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[dist_info + "/" + name] = (f.read(), 0o644)
            license_file = name
            break
    metadata = [
        "Metadata-Version: 2.1",
        "Name: " + DIST_NAME,
        "Version: " + version,
        "Summary: Gaussian mixture models in SQLite: the gmm loadable extension, bundled",
        "Requires-Python: >=3.8",
    ]
    if license_file:
        metadata.append("License-File: " + license_file)
    files[dist_info + "/METADATA"] = ("\n".join(metadata).encode("utf-8") + b"\n", 0o644)
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: gmm python/make_wheel.py",
        "Root-Is-Purelib: false",
        "Tag: " + tag,
    ]
    files[dist_info + "/WHEEL"] = ("\n".join(wheel).encode("utf-8") + b"\n", 0o644)
    record_name = dist_info + "/RECORD"
    rows = ["%s,%s,%d" % (name, digest(data), len(data)) for name, (data, _) in files.items()]
    rows.append(record_name + ",,")
    files[record_name] = (("\n".join(sorted(rows)) + "\n").encode("utf-8"), 0o644)

    date_time = timestamp()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # The package's files, then the dist-info's with RECORD last (the
        # order the wheel specification recommends), each part sorted.
        for name in sorted(files, key=lambda n: (n.startswith(dist_info), n == record_name, n)):
            data, mode = files[name]
            info = zipfile.ZipInfo(name, date_time)
            info.create_system = 3  # Unix: external_attr holds the mode
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

    filename = "%s-%s-%s.whl" % (PACKAGE, version, tag)
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, filename)
    tmp = os.path.join(outdir, "." + filename + ".tmp")
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, out)
    for name in sorted(os.listdir(outdir)):
        if name != filename and name.startswith(PACKAGE + "-") and name.endswith(".whl"):
            os.remove(os.path.join(outdir, name))
            sys.stderr.write("make_wheel.py: removed the older %s\n" % os.path.join(outdir, name))
    print(out)


if __name__ == "__main__":
    main(sys.argv)
