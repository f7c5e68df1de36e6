#!/bin/bash
# per-call instructions: total, spin, work (total - spin), per dump file
N=${N:-30}
for f in "$@"; do
  callgrind_annotate --inclusive=no --threshold=100 $f 2>/dev/null | awk -v N=$N -v name="$(grep '^desc: Trigger' $f | sed 's/desc: Trigger: dump //')" '
   /PROGRAM TOTALS/ {gsub(",","",$1); tot=$1}
   /GlobalSteal|RunQueue<.*PopBack|EigenEnvironment::Task::operator=|MaybeGetTask|tls_get_addr|Spin|sched_yield/ {gsub(",","",$1); spin+=$1}
   /_PyEval_EvalFrameDefault|obmalloc|Objects\/|Python\// {gsub(",","",$1); py+=$1}
   END {printf "%-14s total %7.0f K  spin %7.0f K  work %7.0f K  (python-ish %5.0f K)\n", name, tot/N/1000, spin/N/1000, (tot-spin)/N/1000, py/N/1000}'
done
