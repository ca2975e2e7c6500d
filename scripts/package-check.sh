#!/usr/bin/env bash
# Checks that the library crates are ready for crates.io:
#
# - the members outside crates/ (examples, benchmarks, end-to-end tests) say
#   `publish = false`; the crates in crates/ may be published and carry what crates.io
#   shows (description, license, repository, documentation, readme, keywords,
#   categories);
# - they package together (`cargo package`, which takes their dependencies on each
#   other from a temporary registry of the packages just made);
# - each package holds the files its build reads (`include_str!`, diesel's embedded
#   migrations, askama's templates), none of them outside the crate's directory, and
#   the licence texts (links to the workspace's, which cargo packages as files).
#
# By default the packages are not built (`--no-verify`). Cargo keys the workspace's
# own crates in its temporary registry by name and version: with the target
# directory and cargo home of earlier runs, a verifying build reuses their unpacked
# sources and build artifacts while the version stays the same, and can pass on
# stale code. `scripts/package-check.sh --verify` builds every package from its own
# sources in a fresh target directory instead: a cold build of everything, for a
# release.
set -euo pipefail
cd "$(dirname "$0")/.."

verify=0
case "${1:-}" in
    "") ;;
    --verify) verify=1 ;;
    *)
        echo "usage: $0 [--verify]" >&2
        exit 2
        ;;
esac

metadata=$(cargo metadata --format-version 1 --no-deps --locked)

# The members' publish settings and crates.io metadata; prints the publishable ones.
read -r -d '' check_members <<'EOF' || true
import json, os, sys

meta = json.load(sys.stdin)
root = meta["workspace_root"]
problems, names = [], []
for p in meta["packages"]:
    name = p["name"]
    d = os.path.relpath(os.path.dirname(p["manifest_path"]), root)
    if not d.startswith("crates/"):
        if p["publish"] != []:
            problems.append(f"{name} ({d}) is no library crate: give it `publish = false`")
        continue
    if p["publish"] is not None:
        problems.append(f"{name} ({d}) is a library crate but not publishable")
    for key in ["description", "license", "repository", "documentation", "readme"]:
        if not p.get(key):
            problems.append(f"{name}: no `{key}`")
    readme = p.get("readme")
    if readme and not os.path.isfile(os.path.join(root, d, readme)):
        problems.append(f"{name}: its readme {readme} does not exist")
    for key in ["keywords", "categories"]:
        if not 1 <= len(p[key]) <= 5:
            problems.append(f"{name}: {len(p[key])} {key}, crates.io takes 1 to 5")
    names.append(name)
if problems:
    sys.exit("\n".join(problems))
print(" ".join(names))
EOF

# What each package's build reads from files lies inside the package.
read -r -d '' check_contents <<'EOF' || true
import json, os, re, sys, tarfile

meta = json.loads(sys.argv[1])
target_dir, names = sys.argv[2], sys.argv[3].split()
problems = []
for p in meta["packages"]:
    name = p["name"]
    if name not in names:
        continue
    crate_dir = os.path.dirname(p["manifest_path"])
    base = f"{name}-{p['version']}"
    with tarfile.open(os.path.join(target_dir, "package", base + ".crate")) as t:
        packaged = {m.name[len(base) + 1:] for m in t.getmembers() if m.isfile()}

    # The licence texts the `license` expression names, beside the code.
    for text in ["LICENSE-MIT", "LICENSE-APACHE"]:
        if text not in packaged:
            problems.append(f"{name}: {text} is not in the package")

    def need(path, why):
        rel = os.path.relpath(os.path.normpath(path), crate_dir)
        if rel.startswith(".."):
            problems.append(f"{name}: {why} reads {rel}, outside the crate")
        elif rel not in packaged:
            problems.append(f"{name}: {why} reads {rel}, which is not in the package")

    def need_dir(path, why):
        files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        if not files:
            problems.append(f"{name}: {why} reads {path}, which has no files")
        for f in files:
            need(f, why)

    for d, _, files in os.walk(os.path.join(crate_dir, "src")):
        for f in files:
            if not f.endswith(".rs"):
                continue
            with open(os.path.join(d, f), encoding="utf-8") as src:
                text = src.read()
            for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', text):
                need(os.path.join(d, m.group(1)), "include_str!")
            for m in re.finditer(r'embed_migrations!\(\s*"([^"]+)"', text):
                need_dir(os.path.join(crate_dir, m.group(1)), "embed_migrations!")
            if "#[template(" in text:
                # askama reads templates/ (and what they include) at compile time.
                need_dir(os.path.join(crate_dir, "templates"), "#[template]")
if problems:
    sys.exit("\n".join(dict.fromkeys(problems)))
print(f"the files their builds read are in the {len(names)} packages")
EOF

publishable=$(python3 -c "$check_members" <<<"$metadata")
echo "publishable: $publishable"
args=()
for name in $publishable; do
    args+=(-p "$name")
done

if [ "$verify" = 0 ]; then
    target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
    cargo package --locked --allow-dirty --no-verify "${args[@]}"
else
    # A fresh target directory gives the temporary registry a new path, so cargo
    # unpacks and builds the packages anew. Removed afterwards, with what cargo
    # unpacked from that registry into its home.
    registry_src="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    shopt -s nullglob
    before=("$registry_src"/-*)
    target_dir=$(mktemp -d "${TMPDIR:-/tmp}/minke-package.XXXXXX")
    cleanup() {
        rm -rf "$target_dir"
        local d
        for d in "$registry_src"/-*; do
            if [[ " ${before[*]} " != *" $d "* ]]; then
                rm -rf "$d"
            fi
        done
    }
    trap cleanup EXIT
    CARGO_TARGET_DIR=$target_dir cargo package --locked --allow-dirty "${args[@]}"
fi

python3 -c "$check_contents" "$metadata" "$target_dir" "$publishable"
