#!/usr/bin/env bash
# tests/package/test_package.sh BUILD_DIR SOURCE_DIR WEB(ON|OFF)
#
# Builds the Debian package from BUILD_DIR with cpack, unpacks it with
# dpkg -x into a scratch root and checks, failing at the first problem:
#   - the files: both binaries, templates, docs, the unit, the settings
#     file, the dashboard (when the build has one), and no dev files;
#   - the control data: dependencies found by dpkg-shlibdeps, conffiles,
#     maintainer scripts that create the fieldsync user and a 0700
#     /var/lib/fieldsync (checked by reading them: running them would
#     create a system user on this machine);
#   - the unit: `systemd-analyze verify --root` on the scratch root, and
#     its hardening settings one by one;
#   - the installed server, run from the scratch root's /usr/bin: init and
#     serve against a temporary data folder on a free port, /healthz 200
#     over TLS with the new CA, the dashboard's index.html served from the
#     root's /usr/share/fieldsync/web (the binary finds it beside itself);
#   - the installed CLI: --help, and a template from the root's share/.
set -euo pipefail
build=$1 src=$2 web=${3:-OFF}
pass=0 failed=0
ok()   { pass=$((pass + 1)); printf 'ok   %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
finish() {
    [ -n "${srv_pid:-}" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    [ -n "${tmp:-}" ] && [ -z "${FSV_TEST_KEEP:-}" ] && rm -rf "$tmp"
    echo "$pass passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$pass" -gt 0 ]
}
trap 'finish; exit $?' EXIT

tmp=$(mktemp -d /tmp/fsv-pkg-XXXXXX)
root=$tmp/root

# ---- Build and unpack -------------------------------------------------------------
( cd "$build" && cpack -G DEB -B "$tmp/out" ) >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log"; fail "cpack -G DEB"; exit 1; }
deb=$(ls "$tmp"/out/fieldsync_*.deb)
ok "cpack made $(basename "$deb") ($(stat -c %s "$deb") bytes)"
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$tmp/control"

# ---- Files ----------------------------------------------------------------------
for f in usr/bin/fieldsync-server usr/bin/fieldsync; do
    check "$f is an executable" test -x "$root/$f"
done
for f in lib/systemd/system/fieldsync-server.service etc/fieldsync/fieldsync.conf \
         usr/share/doc/fieldsync/SERVER.md usr/share/fieldsync/templates/software.json \
         usr/share/locale/zh_CN/LC_MESSAGES/fieldsync.mo; do
    check "$f installed" test -f "$root/$f"
done
if [ "$web" = ON ]; then
    check "dashboard installed" test -f "$root/usr/share/fieldsync/web/index.html"
fi
check "no headers or libfieldsync.so (dev component)" \
    test -z "$(find "$root" -name '*.h' -o -name 'libfieldsync.so*' -o -name '*.pc')"
check "nothing under /usr/local" test ! -e "$root/usr/local"

# ---- Control data -------------------------------------------------------------------
ctl=$tmp/control
grep -q '^Package: fieldsync$' "$ctl/control" && ok "package name" || fail "package name"
for dep in adduser libwebsockets libssl3 libsqlite3 libjansson; do
    grep -q "^Depends:.*$dep" "$ctl/control" && ok "depends on $dep" || fail "depends on $dep"
done
check "conffiles: /etc/fieldsync/fieldsync.conf" grep -qx /etc/fieldsync/fieldsync.conf "$ctl/conffiles"
for s in postinst prerm postrm; do
    check "$s is executable sh" test -x "$ctl/$s"
    check "$s parses" sh -n "$ctl/$s"
done
grep -q 'adduser --system --group' "$ctl/postinst" && ok "postinst adds the system user" ||
    fail "postinst adds the system user"
grep -q 'install -d -m 0700 -o fieldsync -g fieldsync /var/lib/fieldsync' "$ctl/postinst" &&
    ok "postinst makes /var/lib/fieldsync 0700" || fail "postinst makes /var/lib/fieldsync 0700"
# The first admin token must never reach apt's logs.
grep -q 'fieldsync-server init' "$ctl/postinst" && ! grep -Eq '^[^#]*\bfieldsync-server init\b.*--data' <(grep -v 'sudo -u' "$ctl/postinst") &&
    ok "postinst only tells how to init (no token in apt's logs)" || fail "postinst runs init"

# ---- The unit ------------------------------------------------------------------------
unit=$root/lib/systemd/system/fieldsync-server.service
for want in 'Type=notify' 'User=fieldsync' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
            'PrivateTmp=yes' 'ReadWritePaths=/var/lib/fieldsync' 'LimitNOFILE=65536' \
            'ProtectHome=yes' 'CapabilityBoundingSet=' 'StateDirectoryMode=0700' \
            'EnvironmentFile=-/etc/fieldsync/fieldsync.conf' \
            'ExecStart=/usr/bin/fieldsync-server serve --data /var/lib/fieldsync'; do
    grep -q "^$want" "$unit" && ok "unit: $want" || fail "unit: $want"
done
if command -v systemd-analyze >/dev/null; then
    # --root: ExecStart's binary and the unit are looked up in the scratch
    # root, which also needs the standard targets and slices the unit is
    # ordered against (copied from this machine's systemd).  verify exits
    # 0 on unknown keys and bad values, only warning: any output fails.
    # The fieldsync user only exists once postinst ran; verify does not
    # need it.
    cp -n /lib/systemd/system/*.target /lib/systemd/system/*.slice \
        "$root/lib/systemd/system/" 2>/dev/null || true
    if systemd-analyze verify --root="$root" --man=no \
           /lib/systemd/system/fieldsync-server.service >"$tmp/verify.log" 2>&1 &&
       [ ! -s "$tmp/verify.log" ]; then
        ok "systemd-analyze verify"
    else
        cat "$tmp/verify.log"
        fail "systemd-analyze verify"
    fi
    # systemd's own hardening score (0 best .. 10 worst; "OK" is below 2.5).
    systemd-analyze security --offline=yes --root="$root" \
        /lib/systemd/system/fieldsync-server.service >"$tmp/security.log" 2>&1 || true
    score=$(sed -n 's/.*Overall exposure level for fieldsync-server.service: \([0-9.]*\).*/\1/p' \
            "$tmp/security.log")
    if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s < 2.5) }'; then
        ok "systemd-analyze security: exposure $score (OK)"
    else
        tail -5 "$tmp/security.log"
        fail "systemd-analyze security: exposure '${score:-?}'"
    fi
else
    fail "systemd-analyze is missing (scripts/setup.sh installs systemd)"
fi

# ---- The installed server, from the scratch root ---------------------------------------
bin=$root/usr/bin/fieldsync-server
data=$tmp/data
"$bin" init --data "$data" --json >"$tmp/init.json" 2>"$tmp/init.err" &&
    ok "installed server: init" || { cat "$tmp/init.err"; fail "installed server: init"; }
port=
for p in $(shuf -i 20000-60000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { fail "no free port"; exit 1; }
"$bin" serve --data "$data" --listen "127.0.0.1:$port" 2>"$tmp/serve.log" &
srv_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
done
code=$(curl -s -o "$tmp/health.json" -w '%{http_code}' --cacert "$data/ca.pem" \
       "https://127.0.0.1:$port/healthz" || true)
if [ "$code" = 200 ] && grep -q '"status":"ok"' "$tmp/health.json"; then
    ok "installed server: /healthz 200"
else
    cat "$tmp/serve.log"; fail "installed server: /healthz answered '$code'"
fi
if [ "$web" = ON ]; then
    curl -s --cacert "$data/ca.pem" "https://127.0.0.1:$port/" -o "$tmp/index.html" || true
    if cmp -s "$tmp/index.html" "$root/usr/share/fieldsync/web/index.html"; then
        ok "installed server serves the installed dashboard"
    else
        cat "$tmp/serve.log"; fail "installed server serves the installed dashboard"
    fi
fi
kill "$srv_pid"; wait "$srv_pid" 2>/dev/null || true; srv_pid=
grep -q 'event=stopped' "$tmp/serve.log" && ok "installed server: clean stop" ||
    { cat "$tmp/serve.log"; fail "installed server: clean stop"; }

# ---- The installed CLI -----------------------------------------------------------------
cli=$root/usr/bin/fieldsync
"$cli" --help >/dev/null 2>&1 && ok "installed CLI: --help" || fail "installed CLI: --help"
# Templates from the root's share/ (beside the binary), not the build's.
if (cd "$tmp" && env -u FIELDSYNC_TEMPLATES "$cli" --db "$tmp/cli.db" template apply software \
        >"$tmp/tpl.log" 2>&1); then
    ok "installed CLI: template apply software"
else
    cat "$tmp/tpl.log"; fail "installed CLI: template apply software"
fi
# The Chinese catalog from the root's share/locale (beside the binary).
if env -u FIELDSYNC_LOCALEDIR LANG=zh_CN.UTF-8 LANGUAGE=zh_CN "$cli" --help 2>&1 | grep -q '客户'; then
    ok "installed CLI: Chinese help from share/locale"
else
    fail "installed CLI: Chinese help from share/locale"
fi
