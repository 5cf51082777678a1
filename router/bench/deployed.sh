#!/usr/bin/env bash
# deployed.sh: the router as users get it against nginx, both proxying to
# the same app pod on the local stack (make up), in alternating rounds.
#
# The router is platformd itself in router mode (--mode=router: the same
# router, logger and metrics registry as the full platformd's, the access
# log on, written by platformd's text handler to a file), routing by a real
# Ingress (its own IngressClass, with a TLS Secret) to the ready endpoint
# of a Service, as it learns them from the cluster. nginx has an access log
# of the same fields, to a file, and keep-alive connections to the same
# pod. The pod runs router/bench's tiny backend (a static binary mounted
# from this machine into the stack's run image) in a scratch namespace that
# the script deletes at the end.
#
# It measures, for each proxy:
#   h1         HTTP/1.1 keep-alive (wrk); and wrk straight to the pod
#              ("direct", its CPU the pod's), the ceiling for any proxy
#   https      HTTPS keep-alive (wrk)
#   handshake  HTTPS, a new connection per request (wrk with
#              Connection: close): its requests/s are handshakes/s
#   h2         HTTP/2 over TLS (h2load, H2_STREAMS streams per connection)
# requests/s and CPU time (user + system, from /proc) of the proxy's
# processes per request, and latency at a fixed rate (router/bench's
# load, open loop, HTTP/1.1 keep-alive) with the p99 each proxy adds to
# the pod's own, measured in the same round. It prints medians and
# router/nginx ratios.
#
# It installs what is missing from nginx, wrk and nghttp2-client
# (apt-get), builds platformd and router/bench from this tree, and stops
# only the processes it started, by pid.
#
# Settings (environment):
#   PLATFORM_ENV_FILE  the local stack's env (default .platform/env)
#   ROUNDS (3), DURATION (wrk/h2load seconds, 8), WRK_THREADS (2),
#   WRK_CONNS (64), H2_STREAMS (10), RATE (fixed-rate requests/s, 2000),
#   RATE_DURATION (5s, in each round), TESTS ("h1 https handshake h2"),
#   BASE_PORT (18280: router +0 http, +1 https, +2 probes; nginx +3 http,
#   +4 https; the "before" router +5..+7)
#   PLATFORMD          a platformd binary to measure instead of building
#   BEFORE_PLATFORMD   another platformd binary (say, built from main) to
#                      measure alongside, as "before", in the same rounds
#   HOLD               set: once all is serving, print the addresses and
#                      wait to be stopped, for measuring by hand
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENV_FILE=${PLATFORM_ENV_FILE:-$ROOT/.platform/env}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
H2_STREAMS=${H2_STREAMS:-10}
RATE=${RATE:-2000}
RATE_DURATION=${RATE_DURATION:-5s}
TESTS=${TESTS:-h1 https handshake h2}
BASE_PORT=${BASE_PORT:-18280}
# The app's host: a name this machine resolves to 127.0.0.1 without help,
# so that wrk and h2load send it as the TLS server name.
HOST=localhost

[ -f "$ENV_FILE" ] || { echo "no $ENV_FILE: bring the local stack up first (make up)" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
: "${KUBECONFIG:?not in $ENV_FILE}" "${PLATFORM_REGISTRY:?not in $ENV_FILE}"

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
KUBECTL=${KUBECTL:-$(command -v kubectl || echo "$ROOT/bin/kubectl")}
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

WORK=$(mktemp -d /tmp/router-deployed.XXXXXX)
chmod 755 "$WORK" # the pod's unprivileged user reads the backend from here
NS=bench-router-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
CLASS=$NS
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  kc delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> building platformd and router/bench"
mkdir -p "$WORK/pod"
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -o "$WORK/pod/bench" ./router/bench)
if [ -z "${PLATFORMD:-}" ]; then
  # As make build builds it.
  (cd "$ROOT" && "$GO" build -trimpath -ldflags '-s -w' -o "$WORK/platformd" ./cmd/platformd)
  PLATFORMD=$WORK/platformd
fi

echo "==> the app: namespace $NS, a pod of router/bench's backend, its Service and Ingress"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
kc create namespace "$NS" >/dev/null
kc -n "$NS" create secret docker-registry registry --docker-server="$PLATFORM_REGISTRY" \
  --docker-username=platform --docker-password="$(cat "$PLATFORM_REGISTRY_CREDENTIAL_FILE")" >/dev/null
kc -n "$NS" create secret tls bench-tls --cert "$WORK/tls.crt" --key "$WORK/tls.key" >/dev/null
kc -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      imagePullSecrets: [{name: registry}]
      containers:
      - name: web
        image: $PLATFORM_REGISTRY/platform/run:bookworm
        command: [/bench/bench, backend, -addr, ":8080"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
        volumeMounts: [{name: bench, mountPath: /bench, readOnly: true}]
      volumes: [{name: bench, hostPath: {path: "$WORK/pod", type: Directory}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  # Plain HTTP is measured too: not redirected to HTTPS.
  annotations: {platform.io/https-redirect: "false"}
spec:
  ingressClassName: $CLASS
  tls: [{hosts: [$HOST], secretName: bench-tls}]
  rules:
  - host: $HOST
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {name: http}}}
YAML
kc -n "$NS" rollout status deployment/web --timeout=180s >/dev/null
POD_IP=$(kc -n "$NS" get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
DIRECT=$POD_IP:8080
echo "    pod at $DIRECT"

# startrouter NAME BINARY PORT: platformd in router mode, its log (and so
# the access log) to a file, as a deployment's stderr goes to one.
declare -A HTTP_PORT HTTPS_PORT PROC
startrouter() {
  local name=$1 bin=$2 port=$3
  # Only the settings given here: not the stack's PLATFORM_* variables.
  env -i PATH="$PATH" HOME="$HOME" "$bin" --mode=router --kubeconfig "$KUBECONFIG" \
    --ingress-class "$CLASS" --router-addr "127.0.0.1:$port" \
    --router-https-addr "127.0.0.1:$((port + 1))" --http-addr "127.0.0.1:$((port + 2))" \
    2>"$WORK/$name.log" &
  PIDS+=($!)
  HTTP_PORT[$name]=$port HTTPS_PORT[$name]=$((port + 1)) PROC[$name]=$!
}
NAMES=(nginx router)
startrouter router "$PLATFORMD" "$BASE_PORT"
if [ -n "${BEFORE_PLATFORMD:-}" ]; then
  startrouter before "$BEFORE_PLATFORMD" $((BASE_PORT + 5))
  NAMES+=(before)
fi

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  # The fields of the router's access log line.
  log_format fields '\$time_iso8601 \$request_method \$host \$uri \$status '
                    '\$request_time \$request_id \$upstream_addr';
  access_log $WORK/nginx/access.log fields;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  # Keep-alive connections are not cut after 1000 requests (the default),
  # as the router's are not.
  keepalive_requests 1000000;
  upstream backend { server $DIRECT; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$((BASE_PORT + 3));
    listen 127.0.0.1:$((BASE_PORT + 4)) ssl http2;
    ssl_certificate $WORK/tls.crt;
    ssl_certificate_key $WORK/tls.key;
    # The router's TLS policy (router/tls.go): TLS 1.2 and 1.3 only, and
    # its TLS 1.2 suites. nginx 1.22's default protocols stop at TLS 1.2,
    # whose resumed handshakes skip the key exchange that TLS 1.3's make
    # (wrk resumes its sessions): handshakes would compare two protocols.
    ssl_protocols TLSv1.2 TLSv1.3;
    # And its TLS 1.3 suites, chosen in its order as Go's server chooses:
    # wrk (OpenSSL) asks for AES-256 first, which the router passes over
    # for AES-128, cheaper a byte; nginx would follow the client.
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;
    ssl_prefer_server_ciphers on;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$request_id;
    }
  }
}
CONF
"$NGINX_BIN" -c "$WORK/nginx.conf"
HTTP_PORT[nginx]=$((BASE_PORT + 3)) HTTPS_PORT[nginx]=$((BASE_PORT + 4))

for name in "${NAMES[@]}"; do
  ok=
  for _ in $(seq 1 300); do
    if [ "$(curl -sS -o /dev/null -w '%{http_code}' "http://$HOST:${HTTP_PORT[$name]}/" 2>/dev/null)" = 200 ] &&
       [ "$(curl -sSk -o /dev/null -w '%{http_code}' "https://$HOST:${HTTPS_PORT[$name]}/" 2>/dev/null)" = 200 ] &&
       [ "$(curl -sSk --http2 -o /dev/null -w '%{http_code} %{http_version}' "https://$HOST:${HTTPS_PORT[$name]}/" 2>/dev/null)" = "200 2" ]; then
      ok=1; break
    fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "$name does not serve the app:" >&2; tail -5 "$WORK/$name.log" "$WORK/nginx/error.log" >&2 2>/dev/null; exit 1; }
done
for name in "${NAMES[@]}"; do # what a client like wrk's (OpenSSL) negotiates, and whether it resumes
  s_client() { openssl s_client -connect "127.0.0.1:${HTTPS_PORT[$name]}" -servername "$HOST" "$@" 2>/dev/null; }
  first=$(sleep 0.5 | s_client -sess_out "$WORK/$name.session")
  again=$(s_client -sess_in "$WORK/$name.session" </dev/null | awk -F', ' '/^(New|Reused), / {print $1; exit}')
  echo "    $name speaks $(awk -F', ' '/^New, / {print $2 ", " $3; exit}' <<<"$first"), $(awk -F': ' '/^Server Temp Key/ {print $2; exit}' <<<"$first"), a second connection: $again"
done
if [ -n "${HOLD:-}" ]; then
  echo "==> holding (HOLD is set): the pod at $DIRECT; $(for n in "${NAMES[@]}"; do printf '%s http %s https %s; ' "$n" "${HTTP_PORT[$n]}" "${HTTPS_PORT[$n]}"; done)pids: router ${PROC[router]}"
  sleep infinity & PIDS+=($!); wait $!
fi
NGINX_PIDS="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"
PROC[nginx]=$NGINX_PIDS
# For the pod alone, the CPU is the pod's own.
PROC[direct]=$(pgrep -f '^/bench/bench backend' | tr '\n' ' ')
[ -n "${PROC[direct]}" ] || { echo "the pod's process is not found on this machine" >&2; exit 1; }

TICK=$(getconf CLK_TCK)
cputicks() { # "user system" ticks of the given pids
  local u=0 s=0 p
  for p in "$@"; do
    set -- $(cut -d' ' -f14,15 "/proc/$p/stat")
    u=$((u + $1)) s=$((s + $2))
  done
  echo "$u $s"
}
machineticks() { # "busy all" ticks of the machine's CPUs (busy: all but idle and iowait)
  awk '/^cpu / {a = 0; for (i = 2; i <= NF; i++) a += $i; print a - $5 - $6, a}' /proc/stat
}

url() { # url TEST NAME
  [ "$2" = direct ] && { echo "http://$DIRECT/"; return; }
  case $1 in
    h1) echo "http://$HOST:${HTTP_PORT[$2]}/" ;;
    *) echo "https://$HOST:${HTTPS_PORT[$2]}/" ;;
  esac
}

# run TEST NAME: one closed-loop run; appends "rps cpu_us_per_req
# user_us system_us machine_us_per_req machine_busy_pct pod_us client_us"
# to $WORK/TEST.NAME: the proxy's CPU a request (user + system, then
# each), the whole machine's busy CPU a request (every process and the
# kernel's own work: the proxy, wrk, the pod, the local stack), how busy
# it was, and the pod's and the client's (wrk's or h2load's) CPU a
# request.
run() {
  local test=$1 name=$2 u before after pbefore pafter mbefore mafter out rps reqs cpu usr sys mach busy pod client
  u=$(url "$test" "$name")
  # shellcheck disable=SC2086
  before=$(cputicks ${PROC[$name]})
  # shellcheck disable=SC2086
  pbefore=$(cputicks ${PROC[direct]})
  mbefore=$(machineticks)
  case $test in
    h2)
      out=$(/usr/bin/time -f '%U %S' -o "$WORK/client.time" h2load -t"$WRK_THREADS" -c"$WRK_CONNS" -m"$H2_STREAMS" -D"$DURATION" "$u" 2>&1)
      rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
      reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
      ;;
    *)
      local hdr=()
      [ "$test" = handshake ] && hdr=(-H 'Connection: close')
      out=$(/usr/bin/time -f '%U %S' -o "$WORK/client.time" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DURATION}s" "${hdr[@]}" "$u")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      if grep -q 'Non-2xx' <<<"$out"; then echo "$name: $test: answers other than 2xx and 3xx" >&2; exit 1; fi
      ;;
  esac
  # shellcheck disable=SC2086
  after=$(cputicks ${PROC[$name]})
  # shellcheck disable=SC2086
  pafter=$(cputicks ${PROC[direct]})
  mafter=$(machineticks)
  [ -n "$rps" ] && [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "$name: $test: no result:" >&2; echo "$out" >&2; exit 1; }
  read -r cpu usr sys mach busy pod client < <(awk -v a="$after" -v b="$before" -v ma="$mafter" -v mb="$mbefore" \
    -v pa="$pafter" -v pb="$pbefore" -v c="$(cat "$WORK/client.time")" -v t="$TICK" -v n="$reqs" 'BEGIN {
    split(a, A, " "); split(b, B, " "); split(ma, MA, " "); split(mb, MB, " "); split(pa, PA, " "); split(pb, PB, " "); split(c, C, " ")
    k = 1e6 / t / n
    printf "%.1f %.1f %.1f %.1f %.0f %.1f %.1f\n", (A[1]-B[1]+A[2]-B[2])*k, (A[1]-B[1])*k, (A[2]-B[2])*k, (MA[1]-MB[1])*k,
      100*(MA[1]-MB[1])/(MA[2]-MB[2]), (PA[1]-PB[1]+PA[2]-PB[2])*k, (C[1]+C[2])*1e6/n}')
  echo "$rps $cpu $usr $sys $mach $busy $pod $client" >> "$WORK/$test.$name"
  printf "    %-10s %-7s %10.0f req/s %8s us CPU/req (user %s, system %s); pod %s, client %s, machine %s us/req, %s%% busy\n" \
    "$test" "$name" "$rps" "$cpu" "$usr" "$sys" "$pod" "$client" "$mach" "$busy"
}

# rate NAME: latency at $RATE req/s over HTTP/1.1 keep-alive (open loop,
# from when each request was due); appends "p50_us p99_us" to
# $WORK/rate.NAME.
to_us() { awk -v v="$1" 'BEGIN { if (v ~ /µs$/) {sub(/µs/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /ns$/) {sub(/ns/,"",v); print v/1000} else {sub(/s/,"",v); print v*1e6} }'; }
rate() {
  local name=$1 u line p50 p99
  u="http://$DIRECT/"; [ "$name" != direct ] && u=$(url h1 "$name")
  line=$("$WORK/pod/bench" load -url "$u" -host "$HOST" -rate "$RATE" -duration "$RATE_DURATION")
  p50=$(to_us "$(awk '{for (i=1;i<NF;i++) if ($i=="p50") print $(i+1)}' <<<"$line")")
  p99=$(to_us "$(awk '{for (i=1;i<NF;i++) if ($i=="p99") print $(i+1)}' <<<"$line")")
  echo "$p50 $p99" >> "$WORK/rate.$name"
  printf '    %-10s %-7s %s\n' "rate" "$name" "$line"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$3" '{print $c}' "$WORK/$1.$2" | median; }

echo "==> $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $("$GO" version | cut -d' ' -f3), $ROUNDS rounds of ${DURATION}s, ${WRK_THREADS} threads, ${WRK_CONNS} connections"
for test in $TESTS; do # warm up: pools, TLS session state, the pod
  for name in "${NAMES[@]}"; do
    if [ "$test" = h2 ]; then
      h2load -t"$WRK_THREADS" -c"$WRK_CONNS" -m"$H2_STREAMS" -D2 "$(url h2 "$name")" >/dev/null 2>&1
    else
      wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d2s "$(url "$test" "$name")" >/dev/null
    fi
  done
done
# The machine's own work with no load (the local stack's processes): the
# CPU it keeps busy whatever the proxies serve, in us a second.
m0=$(machineticks); sleep 5; m1=$(machineticks)
REST_US=$(awk -v a="$m1" -v b="$m0" -v t="$TICK" 'BEGIN {split(a, A, " "); split(b, B, " "); printf "%.0f", (A[1]-B[1])*1e6/t/5}')
echo "    the machine at rest keeps $REST_US us of CPU a second busy"
for r in $(seq 1 "$ROUNDS"); do
  echo "--- round $r"
  for test in $TESTS; do
    # Alternate which proxy goes first.
    order=("${NAMES[@]}")
    [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${NAMES[@]}" | tac))
    for name in "${order[@]}"; do run "$test" "$name"; done
  done
  # The pod alone, no proxy between wrk and it: the most requests a second
  # any proxy could reach here, since a proxy only adds work to the same
  # two CPUs.
  case " $TESTS " in *" h1 "*) run h1 direct ;; esac
  # Latency at a fixed rate, the pod's own (direct) in the same round, so
  # that what each proxy adds is taken against the pod's latency of the
  # moment.
  for name in direct "${order[@]}"; do rate "$name"; done
done

echo "==> medians of $ROUNDS rounds (us a request: the proxy's CPU, user and system; the pod's; the client's, wrk or h2load; the machine's busy CPU)"
printf '    %-10s %-7s %10s %8s %8s %8s %8s %8s %8s %6s\n' test proxy "req/s" "CPU" user system pod client machine busy
for test in $TESTS; do
  for name in "${NAMES[@]}"; do
    printf '    %-10s %-7s %10.0f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %5.0f%%\n' "$test" "$name" "$(col "$test" "$name" 1)" \
      "$(col "$test" "$name" 2)" "$(col "$test" "$name" 3)" "$(col "$test" "$name" 4)" \
      "$(col "$test" "$name" 7)" "$(col "$test" "$name" 8)" "$(col "$test" "$name" 5)" "$(col "$test" "$name" 6)"
  done
done
for test in $TESTS; do
  for name in "${NAMES[@]}"; do
    [ "$name" = nginx ] && continue
    awk -v t="$test" -v p="$name" -v r="$(col "$test" "$name" 1)" -v n="$(col "$test" nginx 1)" \
      -v rc="$(col "$test" "$name" 2)" -v nc="$(col "$test" nginx 2)" \
      'BEGIN {printf "    %-10s %s/nginx: throughput %.2fx, CPU per request %.2fx\n", t, p, r/n, rc/nc}'
  done
  # With the machine as busy as under nginx, wrk and the pod costing a
  # request what they did then and the stack at rest its CPU a second, a
  # proxy serves 1.2x nginx's requests when the CPU a request of all but
  # the stack at rest is nginx's / 1.2: the proxy's own must be lower
  # than nginx's by a sixth of that.
  awk -v t="$test" -v c="$(col "$test" nginx 2)" -v s="$(col "$test" nginx 4)" -v m="$(col "$test" nginx 5)" \
    -v r="$(col "$test" nginx 1)" -v rest="$REST_US" \
    'BEGIN {printf "    %-10s 1.2x nginx needs a proxy at %.1f us CPU/req or less (nginx: %.1f, %.1f of it system)\n", t, c - (m - rest/r)/6, c, s}'
done
if [ -f "$WORK/h1.direct" ]; then
  awk -v r="$(col h1 direct 1)" -v n="$(col h1 nginx 1)" \
    'BEGIN {printf "    h1         the pod alone: %.0f req/s, %.2fx nginx (no proxy can pass it here)\n", r, r/n}'
fi
printf '    at %d req/s: %-7s p50 %6.0f us, p99 %6.0f us\n' "$RATE" direct "$(col rate direct 1)" "$(col rate direct 2)"
for name in "${NAMES[@]}"; do
  # Per round, the proxy's p99 less the pod's own; the median of those.
  paste -d' ' "$WORK/rate.$name" "$WORK/rate.direct" | awk '{print $2 - $4}' > "$WORK/rate.$name.added"
  printf '    at %d req/s: %-7s p50 %6.0f us, p99 %6.0f us, p99 added %+6.0f us\n' "$RATE" "$name" \
    "$(col rate "$name" 1)" "$(col rate "$name" 2)" "$(median < "$WORK/rate.$name.added")"
done
echo "    access log lines: router $(wc -l < "$WORK/router.log"), nginx $(wc -l < "$WORK/nginx/access.log")"
