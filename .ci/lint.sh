#!/usr/bin/env bash
# `./dev.sh lint`: what the formatter and the compiler can check for us
# (issue 16), run by CI before the tests.
#   1. clang-format: every C++ file of the repository is formatted as
#      .clang-format says (the differences are printed; `clang-format -i`).
#   2. clang's thread-safety analysis: every product source (outside tests/
#      and bench/) compiled with -fsyntax-only -Wthread-safety (-beta: lock order)
#      -Werror=thread-safety, with the include paths and definitions of the
#      build ($BUILD_DIR/compile_commands.json, which CMake writes): a field
#      GUARDED_BY a mutex touched without it, a REQUIRES not met, a lock
#      order broken (util/thread_annotations.h) fails the stage.
# Exit status non-zero when either finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
jobs=$(nproc)
rc=0

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else
  mapfile -t files < <(find . -path "./$BUILD_DIR*" -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
fi
echo "lint: clang-format over ${#files[@]} files"
unformatted=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then unformatted+=("$f"); fi
done
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "lint: ${#unformatted[@]} file(s) not formatted as .clang-format says (clang-format -i FILE):"
  for f in "${unformatted[@]}"; do
    echo "--- $f"
    clang-format "$f" | diff -u "$f" - | head -40 || true
  done
  rc=1
fi

db="$BUILD_DIR/compile_commands.json"
if [ ! -f "$db" ]; then
  echo "lint: $db is missing: build first (./dev.sh build)" >&2
  exit 1
fi
# One clang++ command per product source, from the build's own commands.
python3 - "$db" "$PWD" > "$BUILD_DIR/lint-commands.txt" <<'PY'
import json, shlex, sys, os
db, root = sys.argv[1], os.path.realpath(sys.argv[2])
seen = set()
for e in json.load(open(db)):
    f = os.path.realpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    if rel.startswith(("tests/", "bench/", "..")) or f in seen or not rel.endswith(".cc"):
        continue
    seen.add(f)
    args = e.get("arguments") or shlex.split(e["command"])
    out, skip = ["clang++"], False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c", "-MF", "-MT", "-MQ"):
            skip = a != "-c"
            continue
        if a == e["file"] or a.startswith(("-MD", "-MMD", "-fno-fat-lto", "-flto")):
            continue
        out.append(a)
    out += ["-fsyntax-only", "-Wthread-safety", "-Wthread-safety-beta", "-Werror=thread-safety",
            "-Wno-unknown-warning-option", "-Wno-unused-command-line-argument", f]
    print("cd %s && %s" % (shlex.quote(e["directory"]), " ".join(shlex.quote(x) for x in out)))
PY
n=$(wc -l < "$BUILD_DIR/lint-commands.txt")
echo "lint: clang -Wthread-safety over $n product sources ($jobs at a time)"
if ! tr '\n' '\0' < "$BUILD_DIR/lint-commands.txt" |
    xargs -0 -P "$jobs" -I{} bash -c '{}' 2>&1 | tee "$BUILD_DIR/lint-thread-safety.log" |
    grep -E "error|warning: .*thread" ; then
  :
fi
if grep -q "error" "$BUILD_DIR/lint-thread-safety.log"; then
  echo "lint: the thread-safety analysis failed (above; $BUILD_DIR/lint-thread-safety.log)"
  rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
