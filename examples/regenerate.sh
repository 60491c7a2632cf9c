#!/usr/bin/env bash
# Regenerate an example's committed ledger, artifact and reports by paying for the LM calls again.
#
#   bash examples/regenerate.sh sms_spam              # with the embedded SmolLM2 (the default)
#   LMPROG_LM=openai/gpt-4o-mini bash examples/regenerate.sh banking77
#
# The ledger cache/examples/NAME.db is replaced; without this script, the same commands replay it
# with zero LM calls.
set -euo pipefail
name="$1"
cd "$(dirname "$0")/.."
case "$name" in
  nlupp) program=programs/multilabel.py ;;
  esco_tech) program=programs/infer_retrieve_rank.py ;;
  *) program=programs/classify.py ;;
esac
ledger="cache/examples/$name.db"
mkdir -p cache/examples
rm -f "$ledger" "$ledger-wal" "$ledger-shm"
lmprog compile "$program" --task "examples/$name/task.toml" --ledger "$ledger" --threads 2 \
  --out "examples/$name/compiled.json" --report "examples/$name/compile-report.html"
lmprog evaluate "examples/$name/compiled.json" --data "examples/$name/test.jsonl" --ledger "$ledger" --threads 2 --baseline \
  --report "examples/$name/report.html"
lmprog distill "examples/$name/compiled.json" --unlabeled "examples/$name/unlabeled.jsonl" --gold "examples/$name/test.jsonl" \
  --ledger "$ledger" --threads 2 --out "examples/$name/model.skops" --report "examples/$name/distill-report.html"
# One self-contained file to commit: fold the write-ahead log into the database.
python -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()" "$ledger"
