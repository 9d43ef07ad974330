#!/usr/bin/env bash
# tests/cli/check_po.sh (ctest cli_po_complete) — no message of the CLI
# ships untranslated: the message ids are extracted afresh from
# client-cli/*.c (po/extract.sh, xgettext), merged into each po/LANG.po,
# and every one must have a translation that is neither empty nor fuzzy
# (a changed English message turns its old translation fuzzy), with the
# same printf arguments (msgfmt --check).  Fix: bash po/update.sh, then
# translate what it marks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$root/po/extract.sh" "$tmp/fieldsync.pot" 2>"$tmp/xgettext.err" ||
    { cat "$tmp/xgettext.err" >&2; exit 1; }
total=$(( $(grep -c "^msgid " "$tmp/fieldsync.pot" || true) - 1 ))   # less the header
fail=0
while read -r lang; do
    case "$lang" in ''|'#'*) continue ;; esac
    msgmerge --quiet --no-wrap --no-fuzzy-matching -o "$tmp/$lang.po" \
        "$root/po/$lang.po" "$tmp/fieldsync.pot"
    # msgfmt counts them: "N translated messages, M untranslated messages,
    # K fuzzy translations."; --check: printf arguments match their msgid
    bad=0
    msgfmt --check --statistics -o /dev/null "$tmp/$lang.po" 2>"$tmp/$lang.stat" || bad=1
    if grep -q 'untranslated\|fuzzy' "$tmp/$lang.stat"; then
        bad=1
        echo "po/$lang.po: untranslated or fuzzy messages:" >&2
        msgattrib --no-wrap --no-obsolete --untranslated "$tmp/$lang.po" 2>/dev/null |
            grep '^msgid "[^"]' >&2 || true
        msgattrib --no-wrap --no-obsolete --only-fuzzy "$tmp/$lang.po" 2>/dev/null |
            grep '^msgid "[^"]' >&2 || true
    fi
    [ "$bad" -eq 0 ] || cat "$tmp/$lang.stat" >&2
    echo "po/$lang.po: $(cat "$tmp/$lang.stat") ($total message ids in client-cli)"
    fail=$((fail | bad))
done < "$root/po/LINGUAS"
if [ "$fail" -ne 0 ]; then
    echo "FAIL: untranslated or fuzzy messages: run bash po/update.sh and translate them" >&2
    exit 1
fi
echo "1 passed, 0 failed"
