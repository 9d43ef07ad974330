#!/usr/bin/env bash
# po/update.sh — after changing a message in client-cli/: extract the
# message ids again (fieldsync.pot) and merge them into every LANG.po, so
# the new or changed ones show up untranslated or fuzzy for a translator.
# tests/cli/check_po.sh (ctest cli_po_complete) fails until they are done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash ./extract.sh fieldsync.pot
while read -r lang; do
    case "$lang" in ''|'#'*) continue ;; esac
    msgmerge --quiet --update --backup=none --no-wrap --add-location=file "$lang.po" fieldsync.pot
done < LINGUAS
