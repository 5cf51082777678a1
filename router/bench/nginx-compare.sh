#!/usr/bin/env bash
# nginx-compare.sh: the router against nginx, proxying to the same tiny Go
# backend on this machine, over loopback.
#
# It installs Debian's nginx and wrk when missing (apt-get, as root), builds
# router/bench, starts the backend, nginx and the router on their own ports,
# then measures, in alternating rounds:
#   - throughput with wrk (closed loop): requests/s, p99, and the CPU time
#     the proxy spent per request (from /proc), for the backend alone
#     ("direct"), nginx and the router;
#   - latency at a fixed rate (bench load, open loop): p50 and p99, and the
#     p99 each proxy adds to the direct one.
# and prints medians and the router/nginx ratios. It stops what it started.
# "CPU/req" is the CPU time (user + system) of the proxy's processes per
# request; for "direct", of the backend's. On a small shared machine the
# request rates swing with other load; CPU per request is the steadier
# figure.
#
# Settings (environment): ROUNDS (3), DURATION (wrk seconds, 8),
# WRK_THREADS (2), WRK_CONNS (64), RATE (fixed-rate requests/s, 2000),
# RATE_DURATION (10s), BASE_PORT (18180: backend, +1 nginx, +2 router).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
RATE=${RATE:-2000}
RATE_DURATION=${RATE_DURATION:-10s}
BASE_PORT=${BASE_PORT:-18180}
BACKEND=127.0.0.1:$BASE_PORT
NGINX=127.0.0.1:$((BASE_PORT + 1))
ROUTER=127.0.0.1:$((BASE_PORT + 2))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/nginx-compare.XXXXXX)
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

echo "==> building router/bench"
(cd "$ROOT" && "$GO" build -o "$WORK/bench" ./router/bench)

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream backend { server $BACKEND; keepalive 256; }
  server {
    listen $NGINX;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$request_id;
    }
  }
}
CONF

"$WORK/bench" backend -addr "$BACKEND" & PIDS+=($!)
"$WORK/bench" router -addr "$ROUTER" -backend "$BACKEND" & PIDS+=($!)
ROUTER_PID=$!
"$NGINX_BIN" -c "$WORK/nginx.conf"

for a in "$BACKEND" "$NGINX" "$ROUTER"; do
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://$a/" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://$a/" || { echo "nothing answers on $a" >&2; exit 1; }
done
NGINX_PIDS="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"
BACKEND_PID=${PIDS[0]}

TICK=$(getconf CLK_TCK)
cputicks() { # total user+system ticks of the given pids
  local t=0 p
  for p in "$@"; do
    set -- $(cut -d' ' -f14,15 "/proc/$p/stat")
    t=$((t + $1 + $2))
  done
  echo "$t"
}

# wrkrun NAME ADDR PIDS...: one wrk run; appends "rps p99_ms cpu_us_per_req" to $WORK/NAME.wrk
wrkrun() {
  local name=$1 addr=$2; shift 2
  local before after out rps p99 reqs cpu
  before=$(cputicks "$@")
  out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DURATION}s" --latency "http://$addr/")
  after=$(cputicks "$@")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  cpu=$(awk -v a="$after" -v b="$before" -v t="$TICK" -v n="$reqs" 'BEGIN {printf "%.1f", (a-b)*1e6/t/n}')
  echo "$rps $p99 $cpu" >> "$WORK/$name.wrk"
  printf "    %-7s %10.0f req/s  p99 %7.2f ms  %6s us CPU/req\n" "$name" "$rps" "$p99" "$cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$2" '{print $c}' "$WORK/$1.wrk" | median; }

echo "==> machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$WRK_THREADS -c$WRK_CONNS -d${DURATION}s, $ROUNDS rounds"
for name in direct nginx router; do # warm up
  addr=$BACKEND; [ $name = nginx ] && addr=$NGINX; [ $name = router ] && addr=$ROUTER
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d2s "http://$addr/" >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
  echo "--- round $r"
  wrkrun direct "$BACKEND" "$BACKEND_PID"
  # shellcheck disable=SC2086
  wrkrun nginx "$NGINX" $NGINX_PIDS
  wrkrun router "$ROUTER" "$ROUTER_PID"
done

echo "==> fixed rate: $RATE req/s for $RATE_DURATION, latency from when each request was due"
for name in direct nginx router; do
  addr=$BACKEND; [ $name = nginx ] && addr=$NGINX; [ $name = router ] && addr=$ROUTER
  line=$("$WORK/bench" load -url "http://$addr/" -rate "$RATE" -duration "$RATE_DURATION")
  echo "$line" > "$WORK/$name.rate"
  printf '    %-7s %s\n' "$name" "$line"
done
p99of() { awk '{for (i=1;i<NF;i++) if ($i=="p99") print $(i+1)}' "$WORK/$1.rate"; }
to_us() { awk -v v="$1" 'BEGIN { if (v ~ /µs$/) {sub(/µs/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /ns$/) {sub(/ns/,"",v); print v/1000} else {sub(/s/,"",v); print v*1e6} }'; }
D=$(to_us "$(p99of direct)"); N=$(to_us "$(p99of nginx)"); R=$(to_us "$(p99of router)")

echo "==> medians of $ROUNDS rounds"
printf '    %-7s %10s %10s %14s\n' "" "req/s" "p99 ms" "us CPU/req"
for name in direct nginx router; do
  printf '    %-7s %10.0f %10.2f %14.1f\n' "$name" "$(col $name 1)" "$(col $name 2)" "$(col $name 3)"
done
awk -v r="$(col router 1)" -v n="$(col nginx 1)" -v rc="$(col router 3)" -v nc="$(col nginx 3)" \
  'BEGIN {printf "    router/nginx: throughput %.2fx, CPU per request %.2fx\n", r/n, rc/nc}'
awk -v d="$D" -v n="$N" -v r="$R" -v rate="$RATE" \
  'BEGIN {printf "    p99 added at %d req/s: nginx %+.0f us, router %+.0f us\n", rate, n-d, r-d}'
