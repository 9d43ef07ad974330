#!/usr/bin/env bash
# po/extract.sh OUT.pot — the CLI's message ids: every _("..."), N_("..."), C_/NC_("context", "...")
# and ngettext("...", "...", n) in client-cli/*.c, with the TRANSLATORS:
# comments beside them.  Used by update.sh and by the completeness test.
set -euo pipefail
out=$(realpath -m "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
    --keyword=ngettext:1,2 --keyword=C_:1c,2 --keyword=NC_:1c,2 --add-comments=TRANSLATORS: --sort-by-file --add-location=file \
    --no-wrap --package-name=fieldsync --msgid-bugs-address='the fieldsync issue tracker' \
    --output="$out" client-cli/*.c
