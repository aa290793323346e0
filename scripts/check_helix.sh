#!/usr/bin/env bash
# Run docs/editors.md's Helix recipe in a real Helix (by hand; not part of CI).
# Helix is not packaged for Debian 12: this takes Debian 13's `hx` and the C library it
# needs from Debian's archive into a temporary directory (apt-get download, no install),
# writes the doc's languages.toml into a throw-away HOME, runs `hx --health python`, then
# drives Helix in tmux over a two-venv monorepo with real pyright and shows, from
# typemux's trace, the diagnostics, hover and definition each file got.
# Needs: root or apt access to deb.debian.org, tmux, and ./scripts/setup.sh done.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(mktemp -d /tmp/typemux-helix.XXXXXX)
trap 'tmux kill-session -t typemux-helix 2>/dev/null || true' EXIT
APT=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o Dir::Etc::sourceparts=/nonexistent
     -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache"
     -o Dir::State::status=/var/lib/dpkg/status)
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/root" "$WORK/home/.config/helix"
echo "deb http://deb.debian.org/debian trixie main" > "$WORK/sources.list"
apt-get "${APT[@]}" update -qq
(cd "$WORK" && apt-get "${APT[@]}" download hx libc6 libgcc-s1 2>/dev/null)
for deb in "$WORK"/*.deb; do dpkg -x "$deb" "$WORK/root"; done
LIB=$WORK/root/usr/lib/x86_64-linux-gnu
cat > "$WORK/hx" <<EOF
#!/bin/sh
HELIX_RUNTIME=$WORK/root/usr/lib/hx/runtime exec $LIB/ld-linux-x86-64.so.2 --library-path $LIB $WORK/root/usr/lib/hx/hx "\$@"
EOF
chmod +x "$WORK/hx"
"$WORK/hx" --version

# The recipe, exactly as documented.
.venv/bin/python - "$WORK/home/.config/helix/languages.toml" <<'EOF'
import re, sys
doc = open("docs/editors.md", encoding="utf-8").read()
section = doc.split("\n## Helix\n", 1)[1].split("\n## ", 1)[0]
open(sys.argv[1], "w").write(re.search(r"```toml\n(.*?)```", section, re.S)[1])
EOF
ENV=(HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" TERM=xterm-256color
     TYPEMUX_TRACE_DIR="$WORK/trace" PATH="$REPO/.venv/bin:/usr/bin:/bin")
env "${ENV[@]}" "$WORK/hx" --health python

.venv/bin/python -c "
import sys; sys.path.insert(0, 'tests')
from pathlib import Path
from real.monorepo import make_real_monorepo
make_real_monorepo(Path('$WORK/mono'))"
tmux new-session -d -s typemux-helix -x 160 -y 40 \
    "cd $WORK/mono && env ${ENV[*]} $WORK/hx project-a/main.py"
keys() { tmux send-keys -t typemux-helix "$@"; sleep 1; }
sleep 15
for project in project-a project-b; do
    keys ":open $project/main.py" Enter; sleep 8
    keys ":6" Enter; keys w; keys w; keys l; keys Space; keys k; sleep 4   # hover on compute_total
    keys Escape; keys g; keys d; sleep 3                                    # go to definition
done
tmux capture-pane -t typemux-helix -p | grep -v '^\s*$' | tail -3
keys ":qa!" Enter; sleep 2
echo "--- what Helix got, from typemux's trace (client side):"
.venv/bin/typemux trace "$WORK/trace" --json | .venv/bin/python -c '
import json, sys
asked = {}
for line in sys.stdin:
    r = json.loads(line); m = r["message"]
    if r["direction"] == "client->typemux" and "id" in m and "textDocument" in (m.get("params") or {}):
        asked[m["id"]] = (m["method"], m["params"]["textDocument"]["uri"].rsplit("/mono/", 1)[-1])
    if r["direction"] != "typemux->client":
        continue
    if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["diagnostics"]:
        print("diagnostics", m["params"]["uri"].rsplit("/mono/", 1)[-1], [d["message"] for d in m["params"]["diagnostics"]])
    elif m.get("id") in asked and m.get("result"):
        method, where = asked[m["id"]]
        res = m["result"]
        shown = res["contents"]["value"].splitlines()[-1] if method.endswith("hover") else [x["uri"].rsplit("/mono/", 1)[-1] for x in res]
        print(method, where, "->", shown)
'
echo "(files kept in $WORK)"
