#!/bin/sh
# Runs the whole benchmark (see bench/README.md).  Arguments go to run.py,
# e.g. bench/run.sh --rounds 3 --targets direct,snid,nginx
set -eu
cd "$(dirname "$0")/.."
# Thousands of idle connections through a proxy: 2 descriptors each in the
# proxy, 1 in the loadgen and 1 in the sink, plus pipes.  Without
# CAP_SYS_RESOURCE (containers) the hard limit is the ceiling.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 bench/run.py "$@"
