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
# The installed doppel loads and configures it from a deployment (found by its short name in
# the install prefix), and reports a config mistake in it with the deployment's line.
cat >"$tmp/deploy.yaml" <<EOF
apiVersion: doppel/v1
name: out-of-tree
models: [$src/examples/models/factory]
plugins:
  - {name: greeter, kind: actuator, library: hello, config: {greeting: "hi"}}
twins:
  - {id: m1, model: "dtmi:example:factory:Motor;1"}
EOF
"$tmp/prefix/bin/doppel" validate "$tmp/deploy.yaml"
sed -i 's/greeting: "hi"/greetin: "hi"/' "$tmp/deploy.yaml"
if err=$("$tmp/prefix/bin/doppel" validate "$tmp/deploy.yaml" 2>&1); then
  echo "a misspelt config key was accepted"
  exit 1
fi
echo "$err"
grep -q "deploy.yaml:5:" <<<"$err"
grep -q "greeting" <<<"$err"
# The installed doppel searches its own prefix, never the build tree it was installed from.
sed -i 's/library: hello/library: nosuch/' "$tmp/deploy.yaml"
err=$("$tmp/prefix/bin/doppel" validate "$tmp/deploy.yaml" 2>&1) && exit 1
echo "$err"
grep -q "$tmp/prefix/lib/doppel/plugins" <<<"$err"
if grep -q "$build/plugins" <<<"$err"; then
  echo "the installed doppel searched the build tree"
  exit 1
fi
echo "ok: built against the installed SDK and loaded"
