# Shell helpers shared by bench/run and bench/instructions (sourced, not run). Callers set BIN
# (the release binaries) and WORK (a scratch directory) before using them.

# Servers start inside command substitutions (subshells): their pids go to a file.
track() { echo "$1" >> "$WORK/pids"; }
cleanup() { [ -f "$WORK/pids" ] && xargs -r kill 2>/dev/null < "$WORK/pids"; sleep 0.2; rm -rf "$WORK"; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url [tries of 50 ms]
  for _ in $(seq "${2:-200}"); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not come up" >&2
  exit 1
}

start_redis() { # -> prints the URL of a fresh, non-persisting redis-server on a free port
  local p; p=$(port)
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
  track $!
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  echo "redis://127.0.0.1:$p/"
}

start_cluster() { # -> prints the redis+cluster:// URL of a fresh 3-master, 3-replica Cluster
  local ports=() p
  while [ ${#ports[@]} -lt 6 ]; do
    p=$(port)
    # The cluster bus listens on port + 10000.
    [ "$p" -lt 55000 ] || continue
    mkdir -p "$WORK/cluster-$p"
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      --cluster-enabled yes --cluster-config-file "$WORK/cluster-$p/nodes.conf" --cluster-node-timeout 2000 \
      --dir "$WORK/cluster-$p" >/dev/null 2>&1 &
    track $!
    ports+=("$p")
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
  # Ready when every replica is in sync: airlock's first writes (its signing keys) wait for one.
  local ready
  for _ in $(seq 300); do
    ready=yes
    redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' || ready=no
    [ "$(redis-cli -p "${ports[0]}" cluster nodes | grep -c slave)" -eq 3 ] || ready=no
    for p in "${ports[@]}"; do
      redis-cli -p "$p" info replication | grep -q 'role:master\|master_link_status:up' || ready=no
    done
    [ "$ready" = yes ] && break
    sleep 0.1
  done
  echo "redis+cluster://$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')"
}

# The environment of a bench airlock on store $1, with its bootstrap admin.
airlock_env() {
  echo "AIRLOCK_STORE=$1 AIRLOCK_BOOTSTRAP_ADMIN_EMAIL=bench@example.com AIRLOCK_BOOTSTRAP_ADMIN_PASSWORD=bench-password AIRLOCK_LOG=warn"
}

sign_in() { # port -> a session cookie of the bench admin (empty when sign-in failed)
  curl -s -D - -o /dev/null -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password"}' "http://127.0.0.1:$1/api/auth/sign-in" \
    | sed -n 's/^set-cookie: \(airlock_session=[^;]*\).*/\1/ip' | tr -d '\r'
}

add_bench_orgs() { # port cookie: the full view, the bench admin in two orgs with roles
  for org in acme:operator globex:viewer; do
    curl -sf -o /dev/null -H "Cookie: $2" -H 'content-type: application/json' \
      -d "{\"slug\":\"${org%%:*}\",\"name\":\"${org%%:*}\"}" "http://127.0.0.1:$1/api/admin/orgs"
    curl -sf -o /dev/null -H "Cookie: $2" -H 'content-type: application/json' \
      -d "{\"email\":\"bench@example.com\",\"role\":\"${org##*:}\"}" "http://127.0.0.1:$1/api/admin/orgs/${org%%:*}/members"
  done
}

distinct_sessions_script() { # port count -> a wrk script cycling through that many new sessions
  echo "cookies = {"
  for _ in $(seq "$2"); do echo "  \"$(sign_in "$1")\","; done
  echo "}"
  echo 'i = 0'
  echo 'request = function() i = i % #cookies + 1; return wrk.format(nil, nil, {Cookie = cookies[i]}) end'
}

basic_auth() { # client_id secret -> the value of an Authorization header (client_secret_basic)
  printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"
}

form_post_script() { # authorization body -> a wrk script POSTing that form body with client auth
  cat <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$1"
LUA
}

refresh_script() { # authorization seed-file -> a wrk script of refresh_token grants, each token
  # spent once: it starts from the seed file's fresh tokens (one code flow each) and goes on
  # with the token each answer rotates to. A request short of a token sends an unknown one,
  # which is answered 400 and fails the run: nothing is ever reused.
  cat <<LUA
local pool, first, last = {}, 1, 0
for line in io.lines("$2") do last = last + 1; pool[last] = line end
local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "$1"}
local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
request = function()
  local token = pool[first] or "none-left"
  pool[first] = nil
  first = first + 1
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. escape(token))
end
response = function(status, _, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then last = last + 1; pool[last] = token end
end
LUA
}
