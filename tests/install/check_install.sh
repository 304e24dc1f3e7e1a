#!/usr/bin/env bash
# usage: check_install.sh BUILD_DIR CONSUMER_SRC WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

for f in include/fw/engine.h include/fw/packet.h libfw.so libfwConfig.cmake libfw.pc; do
  [ -n "$(find "$prefix" -path "*$f")" ] || { echo "missing from install: $f"; exit 1; }
done
if grep -rq '#include "libfw/' "$prefix/include/fw"; then
  echo "a public header includes an internal one"; exit 1
fi

# 1. CMake package
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name libfw.so | head -n1)")" "$work/cmake-build/consumer"

# 2. pkg-config
pcdir=$(dirname "$(find "$prefix" -name libfw.pc | head -n1)")
libdir=$(dirname "$(find "$prefix" -name libfw.so | head -n1)")
PKG_CONFIG_PATH="$pcdir" c++ -o "$work/consumer-pc" "$src/main.cc" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs libfw)
LD_LIBRARY_PATH="$libdir" "$work/consumer-pc"
# 3. the installed tool runs from the installed tree (RPATH to its libfw.so)
if [ -x "$build/examples/fwctl/fwctl" ]; then
  "$prefix/bin/fwctl" version
fi
echo "install: consumer built with find_package and pkg-config, both ran"
