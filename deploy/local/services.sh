#!/usr/bin/env bash
# Real Elasticsearch, Kafka, Alertmanager, RabbitMQ and Jaeger on 127.0.0.1 for development and CI, without Docker.
#
#   services.sh up [es|es8|opensearch|opensearch3|kafka|alertmanager|rabbitmq|jaeger ...]
#                                                fetch (cached), start, wait until healthy
#                                                (`up` of all also installs Debian's chromium and
#                                                chromium-driver for the explorer's browser tests)
#   services.sh down [svc ...]                   stop what this script started (pid files only)
#   services.sh status [svc ...]                 one line per service
#   services.sh env                              export lines for the test suite
#   services.sh purge                            down, then delete data (downloads are kept)
#   services.sh shippers                         install rsyslog, rsyslog-kafka, unpack syslog-ng (Debian)
#                                                and build the OTel Collector (Go) for the real shipper
#                                                tests (`up` does it too)
#
# Downloads, data and logs live in $MIDWATCH_CACHE (default ~/.cache/midwatch), never in the repo:
#   $CACHE/m2          Maven local repository used for the downloads
#   $CACHE/dist        unpacked Elasticsearch, Kafka classpath
#   $CACHE/state/<svc> config and data per service
#   $CACHE/logs/*.log  one log per service (stdout+stderr of the process)
#   $CACHE/run/*.pid   pid files; `down` only ever signals these process groups
#
# A second, independent set (own data, logs, pid files; same downloads) runs with MIDWATCH_INSTANCE=name
# and other ports, e.g. for tests that must stop or reconfigure a service without disturbing the shared one:
#   MIDWATCH_INSTANCE=faults MIDWATCH_ES_PORT=9201 services.sh up es
# or a quiet Elasticsearch 9 that no test suite uses, for engine benchmarks (store_engines_bench's
# "elasticsearch 9 quiet": the shared one's CPU counts every suite's requests, x1.5-4 per event):
#   MIDWATCH_INSTANCE=bench MIDWATCH_ES_PORT=9240 services.sh up es
# Extra settings: MIDWATCH_ES_SETTINGS_FILE is appended to elasticsearch.yml (when it sets
# xpack.security.enabled, the default "false" line is left out); MIDWATCH_KAFKA_PROPERTIES_FILE is appended
# to server.properties (Java properties: a later key wins, so it can replace listeners).
#
# Secured variants (certificates from a private CA made once per instance in $CACHE/state*/certs):
#   Kafka always has a second listener, SASL_SSL with PLAIN, on MIDWATCH_KAFKA_SASL_PORT (Kafka port + 3,
#   so 9095), user "midwatch", password in state*/secrets/kafka-midwatch.password.
#   MIDWATCH_ES_SECURE=1 starts Elasticsearch with x-pack security, TLS on HTTP and a file-realm
#   superuser "midwatch" (password in state*/secrets/es-midwatch.password), e.g.
#     MIDWATCH_INSTANCE=secure MIDWATCH_ES_PORT=9202 MIDWATCH_ES_SECURE=1 services.sh up es
#   `env` then prints the https URL, the CA file and the password files (never the passwords).
#
# More search engines, each its own node (port, data, log), for the store suites that run against
# every engine (issue 28): es8 is Elasticsearch MIDWATCH_ES8_VERSION (8.19.9) on MIDWATCH_ES8_PORT
# (9210), opensearch is OpenSearch MIDWATCH_OPENSEARCH_VERSION (2.19.4) on MIDWATCH_OPENSEARCH_PORT
# (9220), both on Java 17 (MIDWATCH_ENGINE_JAVA_HOME); opensearch3 is OpenSearch
# MIDWATCH_OPENSEARCH3_VERSION (3.3.2) on MIDWATCH_OPENSEARCH3_PORT (9230), on ES 9's Java 21+.
# Heap MIDWATCH_ENGINE_HEAP (512m), security off. `env` exports MIDWATCH_ES8_URL,
# MIDWATCH_OPENSEARCH_URL and MIDWATCH_OPENSEARCH3_URL.
#
# Environment: MIDWATCH_ES_PORT (9200), MIDWATCH_KAFKA_PORT (9092), MIDWATCH_KAFKA_CONTROLLER_PORT
# (9094), MIDWATCH_ALERTMANAGER_PORT (9093), MIDWATCH_RABBITMQ_PORT (5672: AMQP; management API on
# MIDWATCH_RABBITMQ_MANAGEMENT_PORT, 15672), MIDWATCH_ES_VERSION, MIDWATCH_KAFKA_VERSION,
# MIDWATCH_ES_HEAP (1g), MIDWATCH_ES_JAVA_HOME, MIDWATCH_KAFKA_JAVA_HOME, MIDWATCH_START_TIMEOUT (180),
# MIDWATCH_JAEGER_VERSION (v1.75.0, built from the Go module proxy into $CACHE/dist once),
# MIDWATCH_JAEGER_OTLP_PORT (14318: OTLP/HTTP, clear of midwatch's own 4318),
# MIDWATCH_JAEGER_QUERY_PORT (16686: query API and UI; its gRPC on the port below it).
set -euo pipefail

CACHE="${MIDWATCH_CACHE:-$HOME/.cache/midwatch}"
ES_PORT="${MIDWATCH_ES_PORT:-9200}"
KAFKA_PORT="${MIDWATCH_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${MIDWATCH_KAFKA_CONTROLLER_PORT:-9094}"
KAFKA_SASL_PORT="${MIDWATCH_KAFKA_SASL_PORT:-$((KAFKA_PORT + 3))}"
ES_SECURE="${MIDWATCH_ES_SECURE:-0}"
AM_PORT="${MIDWATCH_ALERTMANAGER_PORT:-9093}"
RABBITMQ_PORT="${MIDWATCH_RABBITMQ_PORT:-5672}"
RABBITMQ_MGMT_PORT="${MIDWATCH_RABBITMQ_MANAGEMENT_PORT:-15672}"
# Not 9201/9202: the tests' private ES instances (faults, secure) use those.
ES8_PORT="${MIDWATCH_ES8_PORT:-9210}"
OPENSEARCH_PORT="${MIDWATCH_OPENSEARCH_PORT:-9220}"
OPENSEARCH3_PORT="${MIDWATCH_OPENSEARCH3_PORT:-9230}"
ES8_VERSION="${MIDWATCH_ES8_VERSION:-8.19.9}"
OPENSEARCH_VERSION="${MIDWATCH_OPENSEARCH_VERSION:-2.19.4}"
OPENSEARCH3_VERSION="${MIDWATCH_OPENSEARCH3_VERSION:-3.3.2}"
ENGINE_HEAP="${MIDWATCH_ENGINE_HEAP:-512m}"
# integ-test-zip is published only for some releases and Maven Central's metadata lists no 9.x at
# all; 9.5.4 was the newest 9.x that resolved (9.5.5, 9.5.6 did not). Change only to one that resolves.
ES_VERSION="${MIDWATCH_ES_VERSION:-9.5.4}"
KAFKA_VERSION="${MIDWATCH_KAFKA_VERSION:-4.4.0}"
# Must match the log4j-core that kafka_2.13 pulls in (2.25.5 for Kafka 4.4.0).
LOG4J_VERSION="${MIDWATCH_LOG4J_VERSION:-2.25.5}"
ES_HEAP="${MIDWATCH_ES_HEAP:-1g}"
START_TIMEOUT="${MIDWATCH_START_TIMEOUT:-180}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
JAEGER_VERSION="${MIDWATCH_JAEGER_VERSION:-v1.75.0}"
JAEGER_OTLP_PORT="${MIDWATCH_JAEGER_OTLP_PORT:-14318}"
JAEGER_QUERY_PORT="${MIDWATCH_JAEGER_QUERY_PORT:-16686}"
ALL_SERVICES=(es es8 opensearch opensearch3 kafka alertmanager rabbitmq jaeger)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="$CACHE/dist"
INSTANCE="${MIDWATCH_INSTANCE:-}"
[[ -z "$INSTANCE" || "$INSTANCE" =~ ^[a-z0-9-]+$ ]] || { echo "services.sh: error: MIDWATCH_INSTANCE must be [a-z0-9-]+" >&2; exit 1; }
STATE="$CACHE/state${INSTANCE:+-$INSTANCE}"
LOGS="$CACHE/logs${INSTANCE:+-$INSTANCE}"
RUN="$CACHE/run${INSTANCE:+-$INSTANCE}"
CERTS="$STATE/certs"
SECRETS="$STATE/secrets"

die() { echo "services.sh: error: $*" >&2; exit 1; }
say() { echo "services.sh: $*"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

canon() {
  case "$1" in
    es|elasticsearch) echo es ;;
    es8|elasticsearch8) echo es8 ;;
    opensearch|os) echo opensearch ;;
    opensearch3|os3) echo opensearch3 ;;
    kafka) echo kafka ;;
    am|alertmanager) echo alertmanager ;;
    rabbitmq|rabbit) echo rabbitmq ;;
    jaeger) echo jaeger ;;
    *) die "unknown service '$1' (expected: es, es8, opensearch, opensearch3, kafka, alertmanager, rabbitmq, jaeger)" ;;
  esac
}

log_of() { if [[ "$1" == es ]]; then echo "$LOGS/elasticsearch.log"; else echo "$LOGS/$1.log"; fi; }
# The search engines' server JVM (forked by bin/elasticsearch|opensearch) writes its pid here.
engine_pidfile() { echo "$RUN/$1.server.pid"; }
pidfile_of() { echo "$RUN/$1.pid"; }

# ---------------------------------------------------------------- processes

# The pid in a pid file is only ours while it is alive and still runs what we started
# (a pid can be reused after a reboot or a crash).
our_pid() {
  local svc="$1" pf pid
  pf="$(pidfile_of "$svc")"
  [[ -s "$pf" ]] || return 1
  pid="$(cat "$pf")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  local pattern
  case "$svc" in
    es|es8) pattern="elasticsearch" ;;
    opensearch|opensearch3) pattern="opensearch" ;;
    kafka) pattern="kafka.Kafka" ;;
    alertmanager) pattern="alertmanager" ;;
    rabbitmq) pattern="rabbit" ;;
    jaeger) pattern="jaeger" ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
  echo "$pid"
}

port_busy() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

tail_log() {
  local log
  log="$(log_of "$1")"
  echo "---- last 40 lines of $log ----" >&2
  tail -n 40 "$log" >&2 2>/dev/null || true
  echo "---- end of $log ----" >&2
}

# ---------------------------------------------------------------- health

es_url() { if [[ "$ES_SECURE" == 1 ]]; then echo "https://127.0.0.1:$ES_PORT"; else echo "http://127.0.0.1:$ES_PORT"; fi; }
engine_url() { echo "http://127.0.0.1:$(port_of "$1")"; }
am_url() { echo "http://127.0.0.1:$AM_PORT"; }
rabbitmq_url() { echo "http://127.0.0.1:$RABBITMQ_MGMT_PORT"; }
jaeger_url() { echo "http://127.0.0.1:$JAEGER_QUERY_PORT"; }

healthy() {
  case "$1" in
    es) es_curl "$(es_url)/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1 ;;
    es8|opensearch|opensearch3) curl -fsS --max-time 3 "$(engine_url "$1")/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1 ;;
    kafka) python3 "$HERE/kafka_probe.py" "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 ;;
    alertmanager) curl -fsS --max-time 3 "$(am_url)/-/ready" >/dev/null 2>&1 ;;
    rabbitmq) curl -fsS --max-time 3 -u guest:guest "$(rabbitmq_url)/api/overview" >/dev/null 2>&1 ;;
    jaeger) curl -fsS --max-time 3 "$(jaeger_url)/api/services" >/dev/null 2>&1 ;;
  esac
}

describe() {
  case "$1" in
    es) echo "elasticsearch $ES_VERSION at $(es_url)" ;;
    es8) echo "elasticsearch $ES8_VERSION at $(engine_url es8)" ;;
    opensearch) echo "opensearch $OPENSEARCH_VERSION at $(engine_url opensearch)" ;;
    opensearch3) echo "opensearch $OPENSEARCH3_VERSION at $(engine_url opensearch3)" ;;
    kafka) echo "kafka $KAFKA_VERSION at 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)" ;;
    alertmanager) echo "alertmanager $(am_version) at $(am_url)" ;;
    rabbitmq) echo "rabbitmq $(rabbitmq_version) at 127.0.0.1:$RABBITMQ_PORT (management $(rabbitmq_url))" ;;
    jaeger) echo "jaeger $JAEGER_VERSION at $(jaeger_url) (OTLP/HTTP 127.0.0.1:$JAEGER_OTLP_PORT)" ;;
  esac
}

port_of() {
  case "$1" in
    es) echo "$ES_PORT" ;;
    es8) echo "$ES8_PORT" ;;
    opensearch) echo "$OPENSEARCH_PORT" ;;
    opensearch3) echo "$OPENSEARCH3_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    alertmanager) echo "$AM_PORT" ;;
    rabbitmq) echo "$RABBITMQ_MGMT_PORT" ;;
    jaeger) echo "$JAEGER_QUERY_PORT" ;;
  esac
}

# curl against our Elasticsearch; when secured, with the CA and the password (read by curl from a
# config on stdin, so the password never shows in the process list).
es_curl() {
  if [[ "$ES_SECURE" == 1 ]]; then
    printf 'user = "midwatch:%s"\n' "$(cat "$SECRETS/es-midwatch.password")" \
      | curl -fsS --max-time 3 --cacert "$CERTS/ca.pem" -K - "$@"
  else
    curl -fsS --max-time 3 "$@"
  fi
}

# ---------------------------------------------------------------- certificates and passwords

# A private CA and one server certificate for 127.0.0.1 / localhost, made once per instance and
# shared by Elasticsearch and Kafka; clients verify against $CERTS/ca.pem. Keys are PKCS#8 PEM,
# which both read directly (Kafka: ssl.keystore.type=PEM). Concurrent `up`s are serialized.
make_certs() {
  need_openssl
  mkdir -p "$CERTS"
  {
    flock 7
    [[ -f "$CERTS/server-bundle.pem" ]] && return 0
    local tmp; tmp="$(mktemp -d "$CERTS/.tmp.XXXXXX")"
    (
      cd "$tmp" && umask 077
      openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=midwatch local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout ca.key -out ca.pem
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
        "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile server.ext -out server.pem
      cat server.key server.pem >server-bundle.pem
      chmod 644 ca.pem server.pem
    ) >>"$LOGS/certs.log" 2>&1 || { tail -n 20 "$LOGS/certs.log" >&2; die "openssl failed; log: $LOGS/certs.log"; }
    mv "$tmp"/{ca.key,ca.pem,server.key,server.pem,server-bundle.pem} "$CERTS/"
    rm -rf "$tmp"
  } 7>"$CERTS/.lock"
}

# A bare Debian CI machine may lack the openssl command (the library is there): install it as root.
need_openssl() {
  command -v openssl >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 \
    || die "openssl is needed to make the local certificates: sudo apt-get install openssl"
  say "installing Debian package openssl ..."
  {
    flock 9
    command -v openssl >/dev/null 2>&1 || {
      DEBIAN_FRONTEND=noninteractive apt-get update -q && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl
    } >>"$LOGS/apt.log" 2>&1 || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get install openssl failed; log: $LOGS/apt.log"; }
  } 9>"$RUN/apt.lock"
}

# A random password kept in $SECRETS/<name>.password (made once), printed for the caller.
password_of() {
  local file="$SECRETS/$1.password"
  if [[ ! -s "$file" ]]; then
    mkdir -p "$SECRETS" && chmod 700 "$SECRETS"
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$file")
  fi
  cat "$file"
}

# ---------------------------------------------------------------- prerequisites

java_major() {
  "$1" -XshowSettings:properties -version 2>&1 | awk -F= '/java.specification.version/ { gsub(/ /, "", $2); print $2 }'
}

# Kafka 4.x needs Java 17+; the default java is fine.
kafka_java() {
  local cand
  for cand in "${MIDWATCH_KAFKA_JAVA_HOME:+$MIDWATCH_KAFKA_JAVA_HOME/bin/java}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)"; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    local major; major="$(java_major "$cand")"
    [[ "${major%%.*}" =~ ^[0-9]+$ ]] && (( ${major%%.*} >= 17 )) && { echo "$cand"; return 0; }
  done
  die "Kafka needs Java 17 or newer and none was found (set MIDWATCH_KAFKA_JAVA_HOME, or: apt-get install openjdk-17-jre-headless)"
}

# Elasticsearch 9.x (and OpenSearch 3.x, named in $1) needs Java 21+; the integ-test-zips ship no JDK.
es_java_home() {
  local cand
  for cand in "${MIDWATCH_ES_JAVA_HOME:-}" "${ES_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [[ -n "$cand" && -x "$cand/bin/java" ]] || continue
    local major; major="$(java_major "$cand/bin/java")"
    [[ "${major%%.*}" =~ ^[0-9]+$ ]] && (( ${major%%.*} >= 21 )) && { echo "$cand"; return 0; }
  done
  die "${1:-Elasticsearch $ES_VERSION} needs Java 21 or newer and none was found (set MIDWATCH_ES_JAVA_HOME to a JDK 21+ home)"
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to download Elasticsearch and Kafka from Maven Central: apt-get install maven"
}

need_tools() {
  local t
  for t in curl python3 ss unzip flock; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' is needed (apt-get install curl python3 iproute2 unzip util-linux)"
  done
}

mvn_q() {
  # One Maven at a time per cache: parallel Mavens on one local repository can corrupt it.
  flock "$CACHE/maven.lock" mvn -B -q -Dmaven.repo.local="$CACHE/m2" "$@"
}

# ---------------------------------------------------------------- Elasticsearch

ES_HOME="$DIST/elasticsearch-$ES_VERSION"

fetch_es() { fetch_zip org.elasticsearch elasticsearch "$ES_VERSION"; }

# Downloads <group>.distribution.integ-test-zip:<name>:<version>:zip once and unpacks it into
# $DIST/<name>-<version> (Elasticsearch and OpenSearch publish the same layout).
fetch_zip() {
  local group="$1" name="$2" version="$3" home="$DIST/$2-$3"
  [[ -f "$home/.complete" ]] && return 0
  need_mvn
  local t0 out; t0="$(now)"
  say "downloading $name $version (integ-test-zip) from Maven Central ..."
  mkdir -p "$CACHE/downloads"
  if ! out="$(mvn_q "$DEP_PLUGIN:copy" \
      -Dartifact="$group.distribution.integ-test-zip:$name:$version:zip" \
      -DoutputDirectory="$CACHE/downloads" 2>&1)"; then
    echo "$out" >&2
    die "could not download $group.distribution.integ-test-zip:$name:$version:zip"
  fi
  rm -rf "$home.tmp" && mkdir -p "$home.tmp"
  unzip -q "$CACHE/downloads/$name-$version.zip" -d "$home.tmp"
  rm -rf "$home"
  mv "$home.tmp/$name-$version" "$home"
  # The zip is unpacked; its copy in the local Maven repository would only double the cache.
  rm -rf "$home.tmp" "$CACHE/downloads/$name-$version.zip" \
    "$CACHE/m2/${group//.//}/distribution/integ-test-zip/$name/$version"
  touch "$home/.complete"
  say "$name $version downloaded and unpacked in $(elapsed "$t0")s"
}

start_es() {
  local jh conf="$STATE/es/config" log
  jh="$(es_java_home)"
  log="$(log_of es)"
  mkdir -p "$STATE/es/data" "$STATE/es/logs"
  # A private config dir: ES writes its keystore there, and the unpacked dist stays pristine.
  if [[ ! -f "$conf/.version-$ES_VERSION" ]]; then
    rm -rf "$conf" && cp -r "$ES_HOME/config" "$conf" && touch "$conf/.version-$ES_VERSION"
  fi
  cat >"$conf/elasticsearch.yml" <<EOF
# Written by deploy/local/services.sh; edits are overwritten on every start.
cluster.name: midwatch-dev
node.name: midwatch-dev-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
path.data: $STATE/es/data
path.logs: $STATE/es/logs
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  local extra="${MIDWATCH_ES_SETTINGS_FILE:-}"
  [[ -z "$extra" || -r "$extra" ]] || die "MIDWATCH_ES_SETTINGS_FILE=$extra is not readable"
  if [[ "$ES_SECURE" == 1 ]]; then
    es_secure "$jh" "$conf"
  elif [[ -z "$extra" ]] || ! grep -q '^xpack\.security\.enabled:' "$extra"; then
    echo "xpack.security.enabled: false" >>"$conf/elasticsearch.yml"
  fi
  [[ -z "$extra" ]] || { echo "# from $extra"; cat "$extra"; } >>"$conf/elasticsearch.yml"
  as_search_user Elasticsearch "$ES_HOME/bin/elasticsearch" -p "$RUN/es.server.pid"
  echo "=== $(date -Is) starting elasticsearch $ES_VERSION on :$ES_PORT (java: $jh)" >>"$log"
  # ES wants 65535 file descriptors; take as many as the hard limit allows (this runs in up_one's subshell).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$conf" ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP ${MIDWATCH_ES_JAVA_OPTS:-}" \
    setsid "${SEARCH_CMD[@]}" >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of es)"
}

# Sets SEARCH_CMD to the command after $1 (the engine's name, for the message). Elasticsearch and
# OpenSearch refuse to run as root. As root, they run as uid 1000 inside a user namespace mapped
# onto root: they then own the cache files they read, and no system user is needed.
as_search_user() {
  local what="$1"; shift
  SEARCH_CMD=("$@")
  [[ "$(id -u)" == 0 ]] || return 0
  unshare --user --map-user="${MIDWATCH_ES_UID:-1000}" --map-group="${MIDWATCH_ES_UID:-1000}" true 2>/dev/null \
    || die "$what cannot run as root and 'unshare --user' is not permitted here; run services.sh as a normal user"
  SEARCH_CMD=(unshare --user --map-user="${MIDWATCH_ES_UID:-1000}" --map-group="${MIDWATCH_ES_UID:-1000}" "$@")
}

# Security on, TLS on HTTP with our certificates (ES reads them only from its config dir), and
# the file-realm superuser "midwatch" (re-created on every start, so a new password file takes).
es_secure() {
  local jh="$1" conf="$2" pw
  make_certs
  mkdir -p "$conf/certs" && cp "$CERTS/ca.pem" "$CERTS/server.pem" "$CERTS/server.key" "$conf/certs/"
  cat >>"$conf/elasticsearch.yml" <<'EOF'
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.certificate: certs/server.pem
xpack.security.http.ssl.key: certs/server.key
xpack.security.http.ssl.certificate_authorities: [certs/ca.pem]
xpack.security.authc.api_key.enabled: true
EOF
  pw="$(password_of es-midwatch)"
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$conf" "$ES_HOME/bin/elasticsearch-users" userdel midwatch >/dev/null 2>&1 || true
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$conf" "$ES_HOME/bin/elasticsearch-users" useradd midwatch -p "$pw" -r superuser \
    >>"$(log_of es)" 2>&1 || { tail_log es; die "elasticsearch-users useradd failed; log: $(log_of es)"; }
}

# ---------------------------------------------------------------- Elasticsearch 8, OpenSearch

fetch_es8() { fetch_zip org.elasticsearch elasticsearch "$ES8_VERSION"; }
fetch_opensearch() { fetch_zip org.opensearch opensearch "$OPENSEARCH_VERSION"; }
fetch_opensearch3() { fetch_zip org.opensearch opensearch "$OPENSEARCH3_VERSION"; }

# ES 8.19 and OpenSearch 2.19 still install the Java SecurityManager, which Java 24+ no longer
# has: they need a JDK from 17 to 23 (Debian's 17 here); Temurin 25 serves only ES 9.
engine_java_home() {
  local cand
  for cand in "${MIDWATCH_ENGINE_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/*; do
    [[ -n "$cand" && -x "$cand/bin/java" ]] || continue
    local major; major="$(java_major "$cand/bin/java")"
    [[ "${major%%.*}" =~ ^[0-9]+$ ]] && (( ${major%%.*} >= 17 && ${major%%.*} <= 23 )) && { echo "$cand"; return 0; }
  done
  die "$1 needs a Java from 17 to 23 and none was found (set MIDWATCH_ENGINE_JAVA_HOME, or: apt-get install openjdk-17-jre-headless)"
}

# One node per engine: private config and data under $STATE/<svc>, security off (integ-test
# zips have no TLS certificates set up), transport on http port + 100 so it never races ES 9's.
start_engine() {
  local svc="$1" name version home jh conf="$STATE/$1/config" log var bin port
  case "$svc" in
    es8) name=elasticsearch; version="$ES8_VERSION"; var=ES ;;
    opensearch) name=opensearch; version="$OPENSEARCH_VERSION"; var=OPENSEARCH ;;
    opensearch3) name=opensearch; version="$OPENSEARCH3_VERSION"; var=OPENSEARCH ;;
  esac
  home="$DIST/$name-$version"; bin="$home/bin/$name"; port="$(port_of "$svc")"
  # OpenSearch 3 has no SecurityManager left and needs Java 21+, as ES 9 does.
  if [[ "$svc" == opensearch3 ]]; then jh="$(es_java_home "$name $version")"; else jh="$(engine_java_home "$name $version")"; fi
  log="$(log_of "$svc")"
  mkdir -p "$STATE/$svc/data" "$STATE/$svc/logs"
  if [[ ! -f "$conf/.version-$version" ]]; then
    rm -rf "$conf" && cp -r "$home/config" "$conf" && touch "$conf/.version-$version"
  fi
  cat >"$conf/$name.yml" <<EOF
# Written by deploy/local/services.sh; edits are overwritten on every start.
cluster.name: midwatch-$svc
node.name: midwatch-$svc-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $port
transport.port: $((port + 100))
path.data: $STATE/$svc/data
path.logs: $STATE/$svc/logs
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  [[ "$svc" == es8 ]] && echo "xpack.security.enabled: false" >>"$conf/$name.yml"
  as_search_user "$name" "$bin" -p "$(engine_pidfile "$svc")"
  echo "=== $(date -Is) starting $name $version on :$port (java: $jh)" >>"$log"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  env "${var}_JAVA_HOME=$jh" "${var}_PATH_CONF=$conf" "${var}_JAVA_OPTS=-Xms$ENGINE_HEAP -Xmx$ENGINE_HEAP" \
    setsid "${SEARCH_CMD[@]}" >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of "$svc")"
}

start_es8() { start_engine es8; }
start_opensearch() { start_engine opensearch; }
start_opensearch3() { start_engine opensearch3; }

# ---------------------------------------------------------------- Kafka

KAFKA_HOME="$DIST/kafka-$KAFKA_VERSION"

fetch_kafka() {
  [[ -f "$KAFKA_HOME/.complete" ]] && return 0
  need_mvn
  local t0 out; t0="$(now)"
  say "downloading kafka_2.13 $KAFKA_VERSION and its runtime dependencies from Maven Central ..."
  rm -rf "$KAFKA_HOME" && mkdir -p "$KAFKA_HOME"
  cat >"$KAFKA_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.midwatch.local</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- kafka_2.13 brings slf4j-api 1.7 and log4j-core 2.x but no binding between them. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  if ! out="$(mvn_q -f "$KAFKA_HOME/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" 2>&1)"; then
    echo "$out" >&2
    die "could not download org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies"
  fi
  ls "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after download"
  touch "$KAFKA_HOME/.complete"
  say "kafka $KAFKA_VERSION classpath ($(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars) downloaded in $(elapsed "$t0")s"
}

start_kafka() {
  local java dir="$STATE/kafka" log
  java="$(kafka_java)"
  log="$(log_of kafka)"
  mkdir -p "$dir"
  make_certs
  local sasl_pw; sasl_pw="$(password_of kafka-midwatch)"
  # The second listener (SASL_SSL, PLAIN) is what clients with security options connect to;
  # the PEM bundle holds the unencrypted PKCS#8 key and the certificate (no ssl.key.password).
  cat >"$dir/server.properties" <<EOF
# Written by deploy/local/services.sh; edits are overwritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_midwatch="$sasl_pw";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$CERTS/server-bundle.pem
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  if [[ -n "${MIDWATCH_KAFKA_PROPERTIES_FILE:-}" ]]; then
    [[ -r "$MIDWATCH_KAFKA_PROPERTIES_FILE" ]] || die "MIDWATCH_KAFKA_PROPERTIES_FILE=$MIDWATCH_KAFKA_PROPERTIES_FILE is not readable"
    { echo "# from $MIDWATCH_KAFKA_PROPERTIES_FILE"; cat "$MIDWATCH_KAFKA_PROPERTIES_FILE"; } >>"$dir/server.properties"
  fi
  cat >"$dir/log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by deploy/local/services.sh. Console output goes to $MIDWATCH_CACHE/logs/kafka.log. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
EOF
  local -a jvm=("$java" -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$dir/log4j2.xml" -cp "$KAFKA_HOME/libs/*")
  # --standalone records the controller's endpoint in the metadata log, so a changed
  # controller port needs a fresh log directory.
  local stamp="$dir/formatted-for-controller-port"
  if [[ -f "$dir/data/meta.properties" && "$(cat "$stamp" 2>/dev/null)" != "$KAFKA_CONTROLLER_PORT" ]]; then
    say "kafka: controller port changed to $KAFKA_CONTROLLER_PORT; wiping $dir/data and formatting anew"
    rm -rf "$dir/data"
  fi
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local cluster_id
    # What `kafka-storage.sh random-uuid` prints (16 random bytes, URL-safe base64), minus a JVM start.
    cluster_id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
    echo "=== $(date -Is) formatting kafka storage (cluster id $cluster_id)" >>"$log"
    "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" --standalone >>"$log" 2>&1 \
      || { tail_log kafka; die "kafka storage format failed; log: $log"; }
    echo "$KAFKA_CONTROLLER_PORT" >"$stamp"
  fi
  echo "=== $(date -Is) starting kafka $KAFKA_VERSION on :$KAFKA_PORT (java: $java)" >>"$log"
  setsid "${jvm[@]}" kafka.Kafka "$dir/server.properties" >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of kafka)"
}

# ---------------------------------------------------------------- Debian packages

# Installs a Debian package (root; one apt at a time per cache) and stops the system service its
# postinst may have started where policy-rc.d allows it: services.sh runs its own process on its
# own ports, data and logs.
apt_install() {
  local pkg="$1" t0 aptlog="$LOGS/apt.log"
  command -v apt-get >/dev/null 2>&1 || die "$pkg comes from Debian's $pkg package, and apt-get is missing; install it yourself"
  [[ "$(id -u)" == 0 ]] || die "installing $pkg needs root: sudo apt-get install $pkg"
  t0="$(now)"
  say "installing Debian package $pkg ..."
  {
    flock 9
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$aptlog" 2>&1 \
      || { tail -n 20 "$aptlog" >&2; die "apt-get update failed; log: $aptlog"; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >>"$aptlog" 2>&1 \
      || { tail -n 20 "$aptlog" >&2; die "apt-get install $pkg failed; log: $aptlog"; }
  } 9>"$RUN/apt.lock"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$pkg" 2>/dev/null; then
    systemctl stop "$pkg" || true
    systemctl disable "$pkg" >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service "$pkg" stop >/dev/null 2>&1 || true
  fi
  say "$pkg installed in $(elapsed "$t0")s"
}

# ---------------------------------------------------------------- log shippers

# The shipper tests (tests/integration/test_shippers_real.py) run rsyslog and syslog-ng in the
# foreground with their own config, pid and work files in a temp dir; only the programs are
# needed (the system's syslog daemon is never configured or started by midwatch). Debian's
# rsyslog and syslog-ng-core conflict (both are "the" system-log-daemon), so rsyslog is
# installed and syslog-ng-core only unpacked under $DIST/syslog-ng, its libraries installed.
SHIPPER_PACKAGES=(rsyslog rsyslog-kafka libivykis0 libnet1 libjson-c5 libglib2.0-0 libwrap0 libpcre3)
SYSLOG_NG_DIR="$DIST/syslog-ng"

fetch_shippers() {
  local pkg deb
  for pkg in "${SHIPPER_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || apt_install "$pkg"
  done
  [[ -x "$SYSLOG_NG_DIR/usr/sbin/syslog-ng" ]] && return 0
  say "unpacking Debian's syslog-ng-core under $SYSLOG_NG_DIR ..."
  mkdir -p "$DIST/debs"
  (cd "$DIST/debs" && apt-get download -q syslog-ng-core >>"$LOGS/apt.log" 2>&1) \
    || die "apt-get download syslog-ng-core failed; log: $LOGS/apt.log"
  deb="$(ls -t "$DIST"/debs/syslog-ng-core_*.deb | head -n 1)"
  dpkg-deb -x "$deb" "$SYSLOG_NG_DIR.tmp" && rm -rf "$SYSLOG_NG_DIR" && mv "$SYSLOG_NG_DIR.tmp" "$SYSLOG_NG_DIR"
  say "syslog-ng: $SYSLOG_NG_DIR/usr/sbin/syslog-ng"
}

# The OpenTelemetry Collector for the shipper tests, built with the Collector Builder from the
# Go module proxy (all collector modules at one release); skipped without Go.
OTELCOL_VERSION="${MIDWATCH_OTELCOL_VERSION:-0.148.0}"
OTELCOL_DIR="$DIST/otelcol-midwatch"

fetch_otelcol() {
  [[ -x "$OTELCOL_DIR/otelcol-midwatch" ]] && return 0
  command -v go >/dev/null 2>&1 || { echo "services.sh: no Go toolchain to build the OTel Collector" >&2; return 1; }
  local t0 build="$DIST/otelcol-build"
  t0="$(now)"
  say "building the OTel Collector $OTELCOL_VERSION (filelog, otlphttp, kafka) ..."
  mkdir -p "$build"
  cat >"$build/builder.yaml" <<EOF
dist:
  name: otelcol-midwatch
  description: OTel Collector for midwatch's shipper tests
  output_path: $OTELCOL_DIR
receivers:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver v$OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter v$OTELCOL_VERSION
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter v$OTELCOL_VERSION
EOF
  { GOBIN="$build/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION" \
      && (cd "$build" && "$build/bin/builder" --config builder.yaml); } >>"$LOGS/otelcol-build.log" 2>&1 \
    || die "building the OTel Collector failed; log: $LOGS/otelcol-build.log"
  say "OTel Collector built in $(elapsed "$t0")s: $OTELCOL_DIR/otelcol-midwatch"
}

# ---------------------------------------------------------------- Alertmanager

AM_BIN=/usr/bin/prometheus-alertmanager

am_version() {
  if [[ -x "$AM_BIN" ]]; then
    "$AM_BIN" --version 2>&1 | awk 'NR == 1 { print $3; exit }'
  else
    echo "(not installed)"
  fi
}

fetch_alertmanager() {
  [[ -x "$AM_BIN" ]] || apt_install prometheus-alertmanager
}

start_alertmanager() {
  local dir="$STATE/alertmanager" log
  log="$(log_of alertmanager)"
  mkdir -p "$dir/data"
  cat >"$dir/alertmanager.yml" <<'EOF'
# Written by deploy/local/services.sh. Alerts are stored and served by the API; nothing is sent.
route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: blackhole
EOF
  echo "=== $(date -Is) starting alertmanager $(am_version) on :$AM_PORT" >>"$log"
  setsid "$AM_BIN" \
    --config.file="$dir/alertmanager.yml" \
    --storage.path="$dir/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" \
    --cluster.listen-address= \
    >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of alertmanager)"
}

# ---------------------------------------------------------------- RabbitMQ

RABBITMQ_BIN=/usr/lib/rabbitmq/bin/rabbitmq-server

rabbitmq_version() {
  dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null | sed 's/-.*//' || echo "(not installed)"
}

fetch_rabbitmq() {
  [[ -x "$RABBITMQ_BIN" ]] || apt_install rabbitmq-server
}

# Our own node (not the Debian service): private data, logs and config under the cache, the
# management plugin enabled through our own enabled_plugins file (works offline), statistics
# refreshed every second so probes and tests see queue changes quickly. Every listener is on
# loopback, the Erlang distribution port and epmd included.
start_rabbitmq() {
  local dir="$STATE/rabbitmq" log
  log="$(log_of rabbitmq)"
  mkdir -p "$dir/mnesia" "$dir/log"
  echo '[rabbitmq_management].' >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
# Written by deploy/local/services.sh.
listeners.tcp.1 = 127.0.0.1:$RABBITMQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBITMQ_MGMT_PORT
collect_statistics_interval = 1000
EOF
  echo "=== $(date -Is) starting rabbitmq $(rabbitmq_version) on :$RABBITMQ_PORT (management :$RABBITMQ_MGMT_PORT)" >>"$log"
  RABBITMQ_NODENAME="midwatch${INSTANCE:+-$INSTANCE}@localhost" \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
  RABBITMQ_DIST_PORT="$((RABBITMQ_PORT + 20000))" \
  RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
  RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_LOGS=- \
  RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
  ERL_EPMD_ADDRESS=127.0.0.1 \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    setsid "$RABBITMQ_BIN" >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of rabbitmq)"
}

# ---------------------------------------------------------------- Jaeger

JAEGER_BIN="$DIST/jaeger-$JAEGER_VERSION/jaeger"

# Built once from the Go module proxy in a scratch module (about 4 minutes on 2 cores): no
# release binary can be downloaded here, and the module proxy serves the source.
fetch_jaeger() {
  [[ -x "$JAEGER_BIN" ]] && return 0
  local go="${MIDWATCH_GO:-$(command -v go || echo /usr/local/go/bin/go)}" work t0 log
  [[ -x "$go" ]] || die "Go is needed to build Jaeger from the Go module proxy (set MIDWATCH_GO, or install Go 1.24+)"
  work="$DIST/jaeger-build-$JAEGER_VERSION"
  log="$LOGS/jaeger-build.log"
  t0="$(now)"
  say "building jaeger $JAEGER_VERSION from the Go module proxy (once; log $log) ..."
  rm -rf "$work"
  mkdir -p "$work" "$(dirname "$JAEGER_BIN")"
  ( cd "$work" && "$go" mod init midwatch-jaeger-build \
      && "$go" get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" \
      && "$go" build -o "$JAEGER_BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger ) >>"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; die "building jaeger failed; log: $log"; }
  mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
  rm -rf "$work"
  say "jaeger $JAEGER_VERSION built in $(elapsed "$t0")s"
}

# All-in-one with in-memory storage, only the OTLP/HTTP receiver and the query API, all on
# loopback and on ports clear of midwatch's own OTLP receiver; no self-metrics listener.
start_jaeger() {
  local dir="$STATE/jaeger" log
  log="$(log_of jaeger)"
  mkdir -p "$dir"
  cat >"$dir/config.yaml" <<EOF
# Written by deploy/local/services.sh.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$((JAEGER_QUERY_PORT - 1))
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$JAEGER_OTLP_PORT
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
  echo "=== $(date -Is) starting jaeger $JAEGER_VERSION (query :$JAEGER_QUERY_PORT, OTLP/HTTP :$JAEGER_OTLP_PORT)" >>"$log"
  setsid "$JAEGER_BIN" --config "$dir/config.yaml" >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$(pidfile_of jaeger)"
}

# ---------------------------------------------------------------- browser

# The trace explorer's browser tests drive Debian's chromium through chromium-driver (no
# browser download works here).
need_browser() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  command -v chromedriver >/dev/null 2>&1 || apt_install chromium-driver
}

# ---------------------------------------------------------------- commands

# Brings one service up; prints one result line; returns non-zero on failure.
up_one() {
  local svc="$1" pid port t0
  port="$(port_of "$svc")"
  if pid="$(our_pid "$svc")"; then
    if healthy "$svc"; then
      say "$(describe "$svc"): already running (pid $pid)"
      return 0
    fi
    say "$svc: pid $pid is running but not healthy yet; waiting"
    t0="$(now)"
  else
    if port_busy "$port"; then
      if healthy "$svc"; then
        say "$(describe "$svc"): answered by a process services.sh did not start; using it as is"
        return 0
      fi
      die "$svc: port $port is taken by another process (see: ss -tlnp 'sport = :$port'); set the MIDWATCH_*_PORT variable to use another port"
    fi
    "fetch_$svc"
    t0="$(now)"
    "start_$svc"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until healthy "$svc"; do
    if ! our_pid "$svc" >/dev/null; then
      tail_log "$svc"
      die "$svc exited during start-up; log: $(log_of "$svc")"
    fi
    if (( SECONDS >= deadline )); then
      tail_log "$svc"
      die "$svc not healthy after ${START_TIMEOUT}s (still running as pid $(cat "$(pidfile_of "$svc")")); log: $(log_of "$svc")"
    fi
    sleep 0.5
  done
  say "$(describe "$svc"): healthy, started in $(elapsed "$t0")s (pid $(cat "$(pidfile_of "$svc")"), log $(log_of "$svc"))"
}

cmd_up() {
  need_tools
  local -a svcs=("$@") pids=()
  local svc failed=0 t0
  t0="$(now)"
  # One `up` at a time per cache: several test runs may call it at once.
  exec 8>"$RUN/up.lock"
  flock 8
  # Not a service: the report tests render PDF pages to PNG with poppler's pdftoppm.
  command -v pdftoppm >/dev/null 2>&1 || apt_install poppler-utils
  # Real shippers for tests/integration/test_shippers_real.py: a failure here fails `up`.
  fetch_shippers && fetch_otelcol || { echo "services.sh: installing the shippers failed" >&2; return 1; }
  for svc in "${svcs[@]}"; do
    up_one "$svc" &
    pids+=($!)
  done
  local i
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
  done
  if (( failed )); then
    echo "services.sh: up failed; logs are in $LOGS/" >&2
    return 1
  fi
  say "all up (${svcs[*]}) in $(elapsed "$t0")s"
}

stop_one() {
  local svc="$1" pid
  if ! pid="$(our_pid "$svc")"; then
    rm -f "$(pidfile_of "$svc")"
    rm -f "$(engine_pidfile "$svc")"
    say "$svc: not running (nothing started by services.sh)"
    return 0
  fi
  # setsid made the service its own process group: signal the group, i.e. only what we started
  # (for Elasticsearch that is the launcher and the server JVM it forks).
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 -- "-$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      say "$svc: still running after 60s; sending SIGKILL to process group $pid"
      kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.3
  done
  rm -f "$(pidfile_of "$svc")" "$(engine_pidfile "$svc")"
  say "$svc: stopped (was pid $pid)"
}

cmd_down() {
  local -a pids=()
  local svc
  for svc in "$@"; do
    stop_one "$svc" &
    pids+=($!)
  done
  local rc=0 p
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

cmd_status() {
  local svc pid state rc=0
  for svc in "$@"; do
    if pid="$(our_pid "$svc")"; then
      if healthy "$svc"; then state="running  healthy    pid $pid"; else state="running  UNHEALTHY  pid $pid"; rc=1; fi
    elif healthy "$svc"; then
      state="running  healthy    (not started by services.sh)"
    else
      state="stopped"; rc=1
    fi
    printf '%-13s %-40s %s\n' "$svc" "$state" "$(describe "$svc" | sed 's/^[^ ]* //')"
  done
  return $rc
}

cmd_env() {
  echo "export MIDWATCH_ES_URL=$(es_url)"
  if [[ "$ES_SECURE" == 1 ]]; then
    echo "export MIDWATCH_ES_CA=$CERTS/ca.pem MIDWATCH_ES_USERNAME=midwatch"
    echo "export MIDWATCH_ES_PASSWORD_FILE=$SECRETS/es-midwatch.password"
  fi
  echo "export MIDWATCH_ES8_URL=$(engine_url es8) MIDWATCH_OPENSEARCH_URL=$(engine_url opensearch)"
  echo "export MIDWATCH_OPENSEARCH3_URL=$(engine_url opensearch3)"
  echo "export MIDWATCH_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
  echo "export MIDWATCH_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$KAFKA_SASL_PORT MIDWATCH_KAFKA_CA=$CERTS/ca.pem"
  echo "export MIDWATCH_KAFKA_SASL_PASSWORD_FILE=$SECRETS/kafka-midwatch.password"
  echo "export MIDWATCH_ALERTMANAGER_URL=$(am_url)"
  echo "export MIDWATCH_RABBITMQ_URL=$(rabbitmq_url)"
  echo "export MIDWATCH_RABBITMQ_AMQP=127.0.0.1:$RABBITMQ_PORT"
  echo "export MIDWATCH_JAEGER_URL=$(jaeger_url) MIDWATCH_JAEGER_OTLP=http://127.0.0.1:$JAEGER_OTLP_PORT"
}

main() {
  local action="${1:-}"
  [[ $# -gt 0 ]] && shift
  local -a svcs=()
  local s all=0
  (($#)) || all=1
  for s in "$@"; do svcs+=("$(canon "$s")"); done
  ((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")
  mkdir -p "$DIST" "$STATE" "$LOGS" "$RUN"
  case "$action" in
    up) if ((all)); then need_browser; fi; cmd_up "${svcs[@]}" ;;
    down) cmd_down "${svcs[@]}" ;;
    status) cmd_status "${svcs[@]}" ;;
    env) cmd_env ;;
    shippers) fetch_shippers; fetch_otelcol ;;
    purge)
      cmd_down "${svcs[@]}"
      for s in "${svcs[@]}"; do rm -rf "${STATE:?}/$s"; done
      say "deleted data of: ${svcs[*]} (downloads kept in $DIST)"
      ;;
    ""|-h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) die "unknown command '$action' (expected: up, down, status, env, purge, shippers)" ;;
  esac
}

main "$@"
