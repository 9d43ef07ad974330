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
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data=${FIELDSYNC_DATA:-/var/lib/fieldsync}
listen=${FIELDSYNC_LISTEN:-0.0.0.0:8443}
port=${listen##*:}

bash "$FDS_ROOT/scripts/setup.sh" --no-browser
fds_build release
server="$(fds_build_dir release)/sync-server/fieldsync-server"
[ -x "$server" ] || fds_die "the build made no $server"

# The address devices and browsers should use: this host's name when it
# resolves, else its first address.
host=$(hostname -f 2>/dev/null || hostname)
case "$listen" in
    0.0.0.0:*|\[::\]:*|:*) ;;
    *) host=${listen%:*} ;;
esac

mkdir -p "$data" 2>/dev/null || fds_die "cannot create $data: run as root or set FIELDSYNC_DATA to a folder you own"
chmod 0700 "$data"

if [ ! -e "$data/ca.pem" ]; then
    # Names for the server certificate, each once.
    read -r -a names <<<"${FIELDSYNC_SAN:-$(hostname) $(hostname -f 2>/dev/null || true) $(hostname -I 2>/dev/null || true)}"
    sans=()
    while read -r n; do
        [ -n "$n" ] && sans+=(--san "$n")
    done < <(printf '%s\n' "${names[@]}" | sort -u)
    fds_say "first run: creating the central store, CA and first admin token in $data"
    # init prints the admin token once; the lines below say where to use it
    # with the address this script listens on.
    "$server" init --data "$data" "${sans[@]}"
    echo
fi
cat <<EOF
==> fieldsync data in $data
    CA certificate devices pin:  $data/ca.pem
    make a device token:         $server user add NAME --role rep|manager|admin [--team T] --data $data
    connect a device:            fieldsync init --server wss://$host:$port --token TOKEN --ca ca.pem
    dashboard (admin token):     https://$host:$port/
EOF

store=()
[ -n "${FIELDSYNC_STORE:-}" ] && store=(--store "$FIELDSYNC_STORE")
fds_say "serving on $listen (Ctrl-C stops)"
exec "$server" serve --data "$data" --listen "$listen" "${store[@]}"
