#!/usr/bin/env bash
# scripts/serve.sh — set up this machine, build fieldsync and run the sync
# server.  The first run creates the central store, a private CA, the
# server certificate and the first admin token (fieldsync-server init);
# every run then serves devices and the dashboard on one TLS port.
#
# Environment:
#   FIELDSYNC_DATA    the server's data folder   (default /var/lib/fieldsync)
#   FIELDSYNC_LISTEN  HOST:PORT to listen on     (default 0.0.0.0:8443)
#   FIELDSYNC_SAN     extra names/addresses for the server certificate,
#                     space-separated (first run only; default: this host's
#                     name and addresses)
#   FIELDSYNC_STORE   passed to `serve --store`; only the embedded SQLite
#                     store exists today (postgresql:// is refused)
#   FIELDSYNC_SERVER_BIN  a fieldsync-server already built or installed: no
#                     package set-up and no build (tests/server/test_firstrun)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data=${FIELDSYNC_DATA:-/var/lib/fieldsync}
listen=${FIELDSYNC_LISTEN:-0.0.0.0:8443}
port=${listen##*:}

if [ -n "${FIELDSYNC_SERVER_BIN:-}" ]; then
    server=$FIELDSYNC_SERVER_BIN
    cli="$(dirname "$server")/../client-cli/fieldsync"
else
    bash "$FDS_ROOT/scripts/setup.sh" --no-browser
    fds_build release
    server="$(fds_build_dir release)/sync-server/fieldsync-server"
    cli="$(fds_build_dir release)/client-cli/fieldsync"
fi
[ -x "$server" ] || fds_die "the build made no $server"
# The device CLI: beside the server in a build, else on the PATH.
if [ -x "$cli" ]; then
    cli=$(cd "$(dirname "$cli")" && pwd)/fieldsync
else
    cli=$(command -v fieldsync || echo "fieldsync (not built here: scripts/build.sh)")
fi

# The address devices and browsers should use: this host's name when it
# resolves, else its first address.
host=$(hostname -f 2>/dev/null || hostname)
case "$listen" in
    0.0.0.0:*|\[::\]:*|:*) ;;
    *) host=${listen%:*} ;;
esac

mkdir -p "$data" 2>/dev/null || fds_die "cannot create $data: run as root or set FIELDSYNC_DATA to a folder you own"
chmod 0700 "$data"

token=TOKEN
if [ ! -e "$data/ca.pem" ]; then
    # Names for the server certificate, each once.
    read -r -a names <<<"${FIELDSYNC_SAN:-$(hostname) $(hostname -f 2>/dev/null || true) $(hostname -I 2>/dev/null || true)}"
    sans=()
    while read -r n; do
        [ -n "$n" ] && sans+=(--san "$n")
    done < <(printf '%s\n' "${names[@]}" | sort -u)
    fds_say "first run: creating the central store, CA and first admin token in $data"
    # init --json: the token is printed below with the address this script
    # really listens on (init alone would say port 8443).
    out=$("$server" init --data "$data" "${sans[@]}" --json) || exit 1
    token=$(sed -n 's/^ *"token": *"\([^"]*\)".*/\1/p' <<<"$out")
    if [ -n "$token" ]; then
        echo "    admin token (shown only this once; keep it safe): $token"
    else
        token=TOKEN
    fi
    echo
fi
cat <<EOF
==> fieldsync data in $data
    CA certificate:       $data/ca.pem  (copy it to each device and browser)
    device command:       $cli
    connect a device:     fieldsync init --server wss://$host:$port --token $token --ca ca.pem
    make a device token:  $server user add NAME --role rep|manager|admin [--team T] --data $data
                          (or export FIELDSYNC_DATA=$data and leave out --data)
    dashboard:            https://$host:$port/  (sign in with a user's token)
    make a browser trust ca.pem (once per browser):
      Chromium/Chrome: Settings > Privacy and security > Security > Manage certificates
                       > Authorities > Import ca.pem, tick "Trust this certificate for
                       identifying websites" (or: certutil -d sql:\$HOME/.pki/nssdb
                       -A -t C,, -n fieldsync -i ca.pem)
      Firefox:         Settings > Privacy & Security > Certificates > View Certificates
                       > Authorities > Import ca.pem, tick "Trust this CA to identify websites"
      Windows:         certutil -addstore -f Root ca.pem
      macOS:           sudo security add-trusted-cert -d -r trustRoot
                       -k /Library/Keychains/System.keychain ca.pem
EOF

store=()
[ -n "${FIELDSYNC_STORE:-}" ] && store=(--store "$FIELDSYNC_STORE")
fds_say "serving on $listen (Ctrl-C stops)"
exec "$server" serve --data "$data" --listen "$listen" "${store[@]}"
