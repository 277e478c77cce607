#!/bin/sh
# First-run check, run by `make` before anything is installed: is there a Python 3.11 or
# newer, with the venv module (and ensurepip, which Debian ships apart in python3.X-venv)?
# Plain POSIX sh, because the point is to speak up when Python itself is missing or too old.
#
#   sh tools/check-python.sh [PYTHON]      exit 0 when fine; else says what to install
PYTHON="${1:-python3}"

hint() {
  echo "  Debian/Ubuntu:  sudo apt-get install python3 python3-venv" >&2
  echo "  Fedora:         sudo dnf install python3" >&2
  echo "  macOS:          brew install python@3.12" >&2
  echo "Then run make again, or point it at another Python: make demo PYTHON=/usr/bin/python3.12" >&2
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "mfp-sim needs Python 3.11 or newer: '$PYTHON' was not found." >&2
  hint
  exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
  echo "mfp-sim needs Python 3.11 or newer: '$PYTHON' is Python ${version:-(version unknown)}." >&2
  hint
  exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "Python $version has no venv module with ensurepip, which make needs to create .venv." >&2
  echo "  Debian/Ubuntu:  sudo apt-get install python$version-venv   (or python3-venv)" >&2
  echo "Then run make again." >&2
  exit 1
fi
exit 0
