#!/usr/bin/env bash
# Installs the system packages spicecim needs (ngspice and its shared library, Python's venv
# module) when run as root; otherwise prints the exact command to run and fails.
set -euo pipefail

missing=()
if ! command -v ngspice >/dev/null 2>&1; then missing+=(ngspice); fi
if ! ldconfig -p 2>/dev/null | grep -q 'libngspice\.so' \
   && ! ls /usr/lib/*/libngspice.so* /usr/lib/libngspice.so* >/dev/null 2>&1; then
  missing+=(libngspice0)
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing system packages: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}', then rerun make" >&2
  exit 1
fi
