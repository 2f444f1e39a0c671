#!/usr/bin/env bash
# Installs Doppel into a temporary prefix, builds examples/plugin-out-of-tree against the
# installed SDK with its own CMakeLists.txt, and loads the result with the real plugin host.
#   plugin_out_of_tree_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/doppel/sdk/plugin.hpp"
test -f "$tmp/prefix/lib/cmake/Doppel/DoppelConfig.cmake"
# The plugin's build sees nothing of the source tree: only the installed prefix.
cmake -S "$src/examples/plugin-out-of-tree" -B "$tmp/hello" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER= >/dev/null
cmake --build "$tmp/hello" >/dev/null
lib="$tmp/hello/plugins/doppel-actuator-hello.so"
test -f "$lib"
out=$("$tmp/prefix/bin/doppel" plugins inspect "$lib")
echo "$out"
grep -q "kind: actuator" <<<"$out"
grep -q "greeting" <<<"$out"
# Only the entry point is exported.
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
echo "exported: $exported"
[[ "$exported" == "doppel_plugin_v1 " ]]
# And installed plugins are found by the installed binary through the install prefix.
cmake --install "$tmp/hello" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/lib/doppel/plugins/doppel-actuator-hello.so"
echo "ok: built against the installed SDK and loaded"
