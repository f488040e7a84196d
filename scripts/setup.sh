#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine with Python 3.11 for simex: the Debian packages
# the offline data sources and the Slurm test need, a virtual environment in .venv, and the package.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  dataset-fashion-mnist   # Fashion-MNIST offline source (/usr/share/datasets/fashion-mnist)
  fonts-dkg-handwriting fonts-bwht fonts-breip fonts-femkeklaver  # EMNIST stand-in fonts
  fonts-humor-sans fonts-kristi fonts-dancingscript fonts-comic-neue
  slurm-wlm munge         # tests/test_slurm.py starts its own single-node Slurm 22.05 cluster
)
missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch and torchvision pinned as a pair: PyPI's torchvision must match torch's build.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test,cluster]'
