#!/usr/bin/env python3
"""wheelhouse.py: wheels of the pinned requirements, rebuilt from this interpreter's installed distributions.

    python3 tests/env/wheelhouse.py tests/env/requirements.txt OUT_DIR

For a machine that has the packages but cannot reach the Python package index: `scripts/fresh-check --wheels
OUT_DIR` points pip in a fresh root at OUT_DIR instead of the index. Each wheel holds the files the installed
distribution's RECORD lists (its scripts under <name>-<version>.data/scripts/), its tags from the WHEEL file, and a
new RECORD. A pinned version that is not the installed one is an error.
"""
import base64
import hashlib
import importlib.metadata as metadata
import os
import re
import sys
import zipfile

SKIP = ("/RECORD", "/INSTALLER", "/direct_url.json", "/REQUESTED")


def requirements(path):
    for line in open(path):
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line)
            if not m:
                sys.exit(f"{path}: not a pinned requirement: {line}")
            yield m.groups()


def wheel_tag(dist):
    """The compressed tag set of the WHEEL file's Tag lines (py2.py3-none-any)."""
    tags = [line.split(":", 1)[1].strip().split("-") for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")] or [["py3", "none", "any"]]
    return "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))


def build(dist, out):
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    version = dist.version
    info = next(f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info"))
    path = os.path.join(out, f"{name}-{version}-{wheel_tag(dist)}.whl")
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in dist.files:
            src, member = f.locate(), str(f)
            if "__pycache__" in member or member.endswith(".pyc") or member.endswith(SKIP) or not os.path.isfile(src):
                continue
            with open(src, "rb") as fh:
                data = fh.read()
            if member.startswith("../"):  # a script installed into bin/: back to the wheel's scripts
                if "/bin/" not in member:
                    continue
                member = f"{name}-{version}.data/scripts/{os.path.basename(member)}"
                if data.startswith(b"#!"):
                    data = b"#!python" + data[data.index(b"\n"):]
            zi = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = (0o100000 | (os.stat(src).st_mode & 0o777) | 0o644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: wheelhouse.py REQUIREMENTS OUT_DIR")
    os.makedirs(sys.argv[2], exist_ok=True)
    for name, version in requirements(sys.argv[1]):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(f"{name} is not installed for {sys.executable}")
        if dist.version != version:
            sys.exit(f"{name}: {dist.version} is installed, the requirement pins {version}")
        print(build(dist, sys.argv[2]))


if __name__ == "__main__":
    main()
