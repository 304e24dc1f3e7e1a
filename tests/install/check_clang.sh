#!/usr/bin/env bash
# usage: check_clang.sh SOURCE_DIR BUILD_DIR
# Every libfw source and public header compiles with clang (clang++-14,
# Debian 12's, the oldest the project supports), not only with the GCC the
# build uses: embedders build with either. Syntax and semantic checks only
# (-fsyntax-only), in parallel. Skipped (CTest status 77) without clang++-14.
set -euo pipefail
src=$1 build=$2
clang=${FW_CLANG:-clang++-14}
command -v "$clang" >/dev/null || { echo "SKIP: $clang not installed (scripts/setup installs it)"; exit 77; }
# The generated protobuf headers (fw/v1/*.pb.h) come from the build.
[ -n "$(find "$build/libfw/proto" -name '*.pb.h' 2>/dev/null | head -n1)" ] ||
  { echo "no generated protobuf headers under $build/libfw/proto: build libfw first"; exit 1; }
cd "$src"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
{ ls libfw/*/*.cc; ls include/fw/*.h; } > "$list"
echo "checking $(wc -l < "$list") files with $clang"
# One file per call; any failure fails the test and its diagnostics are shown.
xargs -P "$(nproc)" -n 1 "$clang" -x c++ -std=c++20 -fsyntax-only -Wno-pragma-once-outside-header \
  -I include -I . -I "$build" -I "$build/libfw/proto" < "$list"
echo "clang: every libfw source and public header compiles"
