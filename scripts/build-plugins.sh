#!/usr/bin/env bash
# Builds the example and test plugins into components under plugins/target:
#   Rust       (own cargo workspace)   -> plugins/target/wasm32-wasip2/release/*.wasm
#   Python     (componentize-py)       -> plugins/target/python/*.wasm
#   JavaScript (componentize-js, node) -> plugins/target/js/*.wasm
# Installs what it needs (the wasm32-wasip2 target, componentize-py, the npm packages) and skips a
# component whose sources are older than it. `scripts/build-plugins.sh rust` builds only the Rust ones.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir plugins/target
# The plugin built against contract 0.1.0 on its own, so that its SDK feature reaches no other plugin.
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir plugins/target \
    -p propagate-mail-v0_1
# Each plugin's manifest goes beside its component.
for manifest in plugins/*/plugin.toml plugins/testing/*/plugin.toml; do
    name=$(basename "$(dirname "$manifest")")
    cp "$manifest" "plugins/target/wasm32-wasip2/release/${name//-/_}.toml"
done
# propagate-mail built against 0.1.0 is the same plugin: it runs under propagate-mail's manifest.
cp plugins/propagate-mail/plugin.toml plugins/target/wasm32-wasip2/release/propagate_mail_v0_1.toml

[ "${1:-all}" = rust ] && exit 0

# Whether $1 is missing or older than any file under the other arguments.
stale() {
    local out=$1
    shift
    [ ! -e "$out" ] || [ -n "$(find "$@" -type f -newer "$out" -not -path '*/node_modules/*' -print -quit)" ]
}

mkdir -p plugins/target/python plugins/target/js
# The tools, even when every component is up to date: the documentation's tests build its
# Python and JavaScript snippets with them.
COMPONENTIZE_PY_VERSION=0.25.1
if ! componentize-py --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
    python3 -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
    hash -r
fi
if [ ! -d plugins/js/node_modules/@bytecodealliance/componentize-js ]; then
    (cd plugins/js && npm install --no-audit --no-fund --loglevel=error)
fi

for dir in plugins/python/*/; do
    name=$(basename "$dir")
    out="plugins/target/python/${name//-/_}.wasm"
    if stale "$out" "$dir" wit; then
        componentize-py -d wit/0.2.0 -w plugin componentize -p "$dir" app -o "$out"
    fi
    cp "$dir/plugin.toml" "${out%.wasm}.toml"
done

for dir in plugins/js/*/; do
    name=$(basename "$dir")
    [ "$name" = node_modules ] && continue
    out="plugins/target/js/${name//-/_}.wasm"
    if stale "$out" "$dir" wit plugins/js/build.mjs; then
        node plugins/js/build.mjs "$dir/$name.js" "$out"
    fi
    cp "$dir/plugin.toml" "${out%.wasm}.toml"
done
