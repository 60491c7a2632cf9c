#!/usr/bin/env bash
# Regenerate an example's committed ledger, artifact and reports by paying for the LM calls again.
#
#   bash examples/regenerate.sh sms_spam              # with the embedded SmolLM2 (the default)
#   LMPROG_LM=openai/gpt-4o-mini bash examples/regenerate.sh banking77
#   bash examples/regenerate.sh sms_spam --replay     # offline: rebuild artifact, model and reports
#                                                     # from the committed ledger (after a format change)
#   bash examples/regenerate.sh sms_spam --extend     # keep the ledger, pay only for calls it lacks
#                                                     # (after a change to what compile asks)
#
# The ledger cache/examples/NAME.db is replaced (kept with --replay, where a call missing from it is an
# error, never paid for); without this script, the same commands replay it with zero LM calls.
set -euo pipefail
name="$1"
replay="${2:-}"
cd "$(dirname "$0")/.."
case "$name" in
  nlupp) program=programs/multilabel.py ;;
  esco_tech) program=programs/infer_retrieve_rank.py ;;
  *) program=programs/classify.py ;;
esac
ledger="cache/examples/$name.db"
mkdir -p cache/examples
offline=()
if [ "$replay" = "--replay" ]; then
  offline=(--offline)
elif [ "$replay" = "--extend" ]; then
  :
else
  rm -f "$ledger" "$ledger-wal" "$ledger-shm"
fi
lmprog compile "$program" --task "examples/$name/task.toml" --ledger "$ledger" --threads 2 "${offline[@]}" \
  --out "examples/$name/compiled.json" --report "examples/$name/compile-report.html"
lmprog evaluate "examples/$name/compiled.json" --data "examples/$name/test.jsonl" --ledger "$ledger" --threads 2 --baseline \
  "${offline[@]}" --report "examples/$name/report.html"
lmprog distill "examples/$name/compiled.json" --unlabeled "examples/$name/unlabeled.jsonl" --gold "examples/$name/test.jsonl" \
  --ledger "$ledger" --threads 2 "${offline[@]}" --out "examples/$name/model.skops" --report "examples/$name/distill-report.html"
# One self-contained file to commit: fold the write-ahead log into the database.
python -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()" "$ledger"
