#!/usr/bin/env bash
# Fails when two top-level modules of one crate import each other (crate::a in b and
# crate::b in a; `super::x` from a top-level file counts as crate::x). Crates cannot form
# cycles at all; this keeps the modules inside them layered too (docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/../crates"
status=0
for crate in */; do
  crate=${crate%/}
  [ -d "$crate/src" ] || continue
  deps=$(mktemp)
  while IFS= read -r f; do
    m=$(echo "$f" | sed "s|^$crate/src/||; s|\.rs$||; s|/mod$||; s|/.*||")
    # Comments (doc links) are not imports.
    { grep -v '^\s*//' "$f" | grep -ohE '(crate|super)::[a-z_]+' | grep -v '^super::super' || true; } |
      sed 's/.*:://' | sort -u | while read -r dep; do
        if [ "$dep" != "$m" ]; then echo "$m $dep"; fi
      done
  done < <(find "$crate/src" -name '*.rs') | sort -u >"$deps"
  while read -r a b; do
    if grep -qx "$b $a" "$deps" && [[ "$a" < "$b" ]]; then
      echo "module cycle in $crate: $a <-> $b" >&2
      status=1
    fi
  done <"$deps"
  rm -f "$deps"
done
exit $status
