#!/usr/bin/env bash
# Installs the npm package onnxruntime-web into .cache/ort-web (ignored by git), for
# `kerasrnn2onnx verify --runtime web` and the web runtime tests. Needs Node 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/ort-web
cd .cache/ort-web
[ -f package.json ] || echo '{"private": true}' > package.json
npm install --no-audit --no-fund --silent "onnxruntime-web@${ORT_WEB_VERSION:-1.30.0}"
