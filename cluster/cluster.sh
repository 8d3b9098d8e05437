#!/usr/bin/env bash
# cluster/cluster.sh up|down|status [NAME] | kill|start NAME K: a Docker Swarm of three engines on this machine, for
# ENGINE=swarm (issue #11) and its tests. Privileged containers cannot start on these machines,
# so no docker-in-docker: each node is a real dockerd in its own network namespace, with its own
# address on a bridge of the cluster's own, data root, exec root and socket; node 1 is the
# manager, nodes 2 and 3 workers. A registry (Debian's docker-registry, HTTPS with a CA made
# here and trusted through /etc/docker/certs.d) runs on this machine's engine, on the bridge's
# address, so every engine pulls a release by the same name.
#
#   NAME          letters and digits, at most 6 (default: main); several clusters may run at once
#   CLUSTER_NET   the bridge's /24 as A.B.C (default: 10.231.N, N from NAME)
#   BASE_IMAGE    the image the registry is built on (default: switcher/base:$RELEASE)
#
# `kill NAME K` stops node K as a power loss would: its engine, containerd, shims and every
# process of its containers, SIGKILL, all at once; `start NAME K` starts its engine again on the
# same data root (the node rejoins the swarm by itself).
#
# Sockets: /run/switcher-cluster/NAME/nK.sock; the registry: A.B.C.1:5000; the nodes' shared
# directory (SHARED_DIR): /var/lib/switcher-cluster/NAME/shared. `down` removes every
# engine, namespace, interface, firewall rule, data root, certificate and container `up` made,
# also after an `up` that failed half-way. Needs root.
set -eEuo pipefail
action=${1:-}
name=${2:-${CLUSTER:-main}}
die() { echo "cluster: $*" >&2; exit 1; }
[[ $name =~ ^[a-z0-9]{1,6}$ ]] || die "NAME must be 1-6 lower-case letters or digits, not '$name'"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, engines)"
if [ -n "${CLUSTER_NET:-}" ]; then
  net=$CLUSTER_NET
else
  net="10.231.$(( $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 250 + 1 ))"
fi
[[ $net =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "CLUSTER_NET must be A.B.C, not '$net'"
prefix="swc$name"
bridge="${prefix}br"
run="/run/switcher-cluster/$name"
data="/var/lib/switcher-cluster/$name"
registry="$net.1:5000"
certs="/etc/docker/certs.d/$registry"
label="io.switcher.cluster=$name"
nodes=(1 2 3)
node_sock() { echo "unix://$run/n$1.sock"; }
node() { local k=$1; shift; docker -H "$(node_sock "$k")" "$@"; }
forward_rule=(DOCKER-USER -i "$bridge" -o "$bridge" -j ACCEPT)

start_node() {
  local k=$1 ns="$prefix-n$1"
  ip netns add "$ns"
  ip link add "${prefix}h$k" type veth peer name "${prefix}n$k"
  ip link set "${prefix}n$k" netns "$ns"
  ip link set "${prefix}h$k" master "$bridge" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$net.1$k/24" dev "${prefix}n$k"
  ip -n "$ns" link set "${prefix}n$k" up
  ip -n "$ns" route add default via "$net.1"
  # The engine's own config: the host's, without data-root (given as a flag).
  python3 -c 'import json, os, sys
c = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
c.pop("data-root", None)
json.dump(c, open(sys.argv[2], "w"))' /etc/docker/daemon.json "$run/n$k.json"
  mkdir -p "$data/n$k" "$run/n$k"
  start_engine "$k"
}

start_engine() {
  local k=$1 ns="$prefix-n$1"
  nsenter --net="/var/run/netns/$ns" setsid dockerd --config-file "$run/n$k.json" \
    --data-root "$data/n$k" --exec-root "$run/n$k" --pidfile "$run/n$k.pid" \
    -H "$(node_sock "$k")" --cgroup-parent "/$prefix-n$k" --bip 172.30.0.1/24 \
    --default-address-pool base=172.31.0.0/16,size=24 \
    > "$run/n$k.log" 2>&1 < /dev/null &
}

wait_node() {
  local k=$1 deadline=$((SECONDS + 60))
  until node "$k" info > /dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 5 "$run/n$k.log" >&2; die "node $k's engine did not start"; }
    sleep 0.5
  done
}

make_certificates() {
  mkdir -p "$run/registry"
  (
    cd "$run/registry"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
      -subj "/CN=switcher cluster $name registry CA" 2> /dev/null
    openssl req -newkey rsa:2048 -nodes -keyout key.pem -out cert.csr -subj "/CN=$net.1" 2> /dev/null
    printf 'subjectAltName=IP:%s\n' "$net.1" > ext
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 30 \
      -extfile ext 2> /dev/null
    chmod 0644 cert.pem ca.pem
  )
  [ -d /etc/docker/certs.d ] || touch "$run/made-certs.d"
  mkdir -p "$certs"
  cp "$run/registry/ca.pem" "$certs/ca.crt"
}

start_registry() {
  local image="switcher-cluster/registry:$name"
  docker build -q --build-arg "BASE=${BASE_IMAGE:-switcher/base:${RELEASE:-dev}}" -t "$image" \
    "$(dirname "$0")/registry" > /dev/null
  # Its key is readable by the registry's own user only.
  chown "$(docker run --rm --network none --entrypoint id "$image" -u)" "$run/registry/key.pem"
  docker run -d --name "swc-$name-registry" --label "$label" --restart unless-stopped \
    --cap-drop ALL --security-opt no-new-privileges --read-only \
    -v "$run/registry/cert.pem:/etc/registry/cert.pem:ro" -v "$run/registry/key.pem:/etc/registry/key.pem:ro" \
    --mount "type=volume,dst=/var/lib/docker-registry,volume-label=$label" \
    -p "$net.1:5000:5000" "$image" > /dev/null
  local deadline=$((SECONDS + 30))
  until curl -sf --cacert "$certs/ca.crt" "https://$registry/v2/" > /dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { docker logs --tail 5 "swc-$name-registry" >&2; die "the registry did not answer"; }
    sleep 0.5
  done
}

up() {
  [ ! -e "$run" ] || die "cluster $name exists ($run); \`$0 down $name\` first"
  # What an earlier run left after this machine restarted (/run is empty then, the data roots
  # are not): an engine must not start on a stale swarm's state.
  if [ -e "$data" ] || ip link show "$bridge" > /dev/null 2>&1; then down > /dev/null; fi
  mkdir -p "$run"
  # SHARED_DIR of the cluster's environments: what each node of a real cluster mounts from
  # shared storage at one path; here the nodes share this machine's file system.
  mkdir -p "$data/shared"
  trap 'echo "cluster: up failed; cleaning up" >&2; down > /dev/null 2>&1 || true' ERR
  ip link add "$bridge" type bridge
  ip addr add "$net.1/24" dev "$bridge"
  ip link set "$bridge" up
  iptables -I "${forward_rule[@]}"
  for k in "${nodes[@]}"; do start_node "$k"; done
  make_certificates
  start_registry
  for k in "${nodes[@]}"; do wait_node "$k"; done
  node 1 swarm init --advertise-addr "$net.11" --listen-addr "$net.11:2377" \
    --default-addr-pool 10.240.0.0/16 > /dev/null
  local token
  token=$(node 1 swarm join-token -q worker)
  for k in 2 3; do node "$k" swarm join --token "$token" --advertise-addr "$net.1$k" "$net.11:2377" > /dev/null; done
  # Where the stack's services go: the db on node 1 (its volume stays there), an lb on every node;
  # switcher.engine: where switcher reaches the node's own engine (the lb's flag, the db's roles).
  for k in "${nodes[@]}"; do
    local id
    id=$(node "$k" info --format '{{.Swarm.NodeID}}')
    node 1 node update --label-add switcher.lb=true --label-add "switcher.node=n$k" \
      --label-add "switcher.engine=$(node_sock "$k")" \
      $([ "$k" = 1 ] && echo --label-add switcher.db=true) "$id" > /dev/null
  done
  trap - ERR
  status
}

status() {
  [ -e "$run" ] || die "cluster $name is not up"
  echo "cluster $name: manager $(node_sock 1), registry $registry, nodes $net.11-$net.13"
  node 1 node ls --format '  {{.Hostname}} {{.ID}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'
}

down() {
  local k pid
  for k in "${nodes[@]}"; do
    if [ -S "$run/n$k.sock" ]; then node "$k" swarm leave --force > /dev/null 2>&1 || true; fi
    if [ -f "$run/n$k.pid" ]; then
      pid=$(cat "$run/n$k.pid")
      kill "$pid" 2> /dev/null || true
      for _ in $(seq 60); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2> /dev/null || true
    fi
  done
  docker rm -f -v "swc-$name-registry" > /dev/null 2>&1 || true
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm > /dev/null 2>&1 || true
  docker image rm "switcher-cluster/registry:$name" > /dev/null 2>&1 || true
  for k in "${nodes[@]}"; do
    ip netns del "$prefix-n$k" 2> /dev/null || true
    ip link del "${prefix}h$k" 2> /dev/null || true
  done
  ip link del "$bridge" 2> /dev/null || true
  while iptables -D "${forward_rule[@]}" 2> /dev/null; do :; done
  # What the engines mounted (a killed engine leaves its namespaces' and layers' mounts under
  # its exec and data roots), then the roots and cgroups themselves.
  findmnt -rn -o TARGET | grep -e "^$data/" -e "^$run/" | sort -r | xargs -r -n1 umount -l 2> /dev/null || true
  rm -rf "$data"
  for k in "${nodes[@]}"; do
    find /sys/fs/cgroup -maxdepth 2 -depth -type d -name "$prefix-n$k" -exec rmdir {} + 2> /dev/null || true
  done
  rm -rf "$certs"
  [ ! -f "$run/made-certs.d" ] || rmdir /etc/docker/certs.d 2> /dev/null || true
  rm -rf "$run"
  rmdir /run/switcher-cluster /var/lib/switcher-cluster 2> /dev/null || true
  echo "cluster $name: down"
}

node_pids() {
  local k=$1
  ip netns pids "$prefix-n$k" 2> /dev/null || true
  cat /sys/fs/cgroup/pids/"$prefix-n$k"/*/cgroup.procs 2> /dev/null || true
}

kill_node() {
  local k=$1 pids
  [ -f "$run/n$k.pid" ] || die "node $k of cluster $name does not run"
  for _ in $(seq 50); do
    pids=$(node_pids "$k" | sort -u)
    [ -n "$pids" ] || break
    kill -9 $pids 2> /dev/null || true
    sleep 0.1
  done
  [ -z "$(node_pids "$k")" ] || die "node $k still has processes"
  rm -f "$run/n$k.pid"
}

restart_node() {
  local k=$1
  [ ! -f "$run/n$k.pid" ] || die "node $k of cluster $name runs already"
  rm -f "$run/n$k.sock"
  start_engine "$k"
  wait_node "$k"
}

node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || die "K must be 1, 2 or 3, not '${1:-}'"
  [ -e "$run" ] || die "cluster $name is not up"
}

case "$action" in
  up) up ;;
  kill) node_arg "${3:-}"; kill_node "$3" ;;
  start) node_arg "${3:-}"; restart_node "$3" ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status [NAME], or $0 kill|start NAME K" ;;
esac
