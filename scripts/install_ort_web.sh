#!/usr/bin/env bash
# Installs the npm package onnxruntime-web into .cache/ort-web (ignored by git), for
# `kerasrnn2onnx verify --runtime web` and the web runtime tests; part of the README's test
# command. Without Node it says so and succeeds (the web cases are then skipped with that
# reason); with Node, a failed install fails this script, and so the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${ORT_WEB_VERSION:-1.30.0}"
if ! command -v node > /dev/null; then
    echo "install_ort_web: node not found: the onnxruntime-web cases will be skipped (install Node 20+ to run them)"
    exit 0
fi
if ! command -v npm > /dev/null; then
    echo "install_ort_web: node is here but npm is not: cannot install onnxruntime-web" >&2
    exit 1
fi
installed=".cache/ort-web/node_modules/onnxruntime-web/package.json"
if [ -f "$installed" ] && grep -q "\"version\": \"$version\"" "$installed"; then
    exit 0
fi
mkdir -p .cache/ort-web
cd .cache/ort-web
[ -f package.json ] || echo '{"private": true}' > package.json
if ! npm install --no-audit --no-fund --silent "onnxruntime-web@$version"; then
    echo "install_ort_web: npm install onnxruntime-web@$version failed (see npm's message above)" >&2
    exit 1
fi
