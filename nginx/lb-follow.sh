#!/bin/sh
# A cluster's lb (LB_FOLLOW=1: the entrypoint runs it once before nginx starts, then beside
# nginx), once a second:
# - the live colour switcher last committed (a promote, rollback or up that finished: "COLOUR
#   GENERATION RELEASE" in /var/lib/switcher/committed/live, on the shared storage every lb
#   node mounts) is set on this lb when its generation is newer than the last switch this lb
#   took (switcher writes that generation with each flip), and once this node has that
#   release's static files (a node that was away when it was deployed gets them from
#   `switcher up`; until then it keeps the colour it had, whose pages and files match, unless
#   that colour has no task left: then it takes the commit without them);
# - the maintenance switcher last committed (`maintenance on/off`, deploy --maintenance, db
#   restore: "on GENERATION", the state's JSON line and the page, or "off GENERATION", in
#   committed/maintenance, root's alone: it holds the bypass token) is set when newer than
#   the last maintenance switch this lb took.
# So an lb that missed a switch (its node was down or cut off, or it is new) takes it by itself
# once it is back (maintenance before it serves), while a commit read late from the shared
# storage never undoes a newer flip. A promote in progress (not committed yet) and a flag set
# by hand are left alone. Its temporary files are its own (*.following): switcher may write the
# same state through docker exec at the same moment. `--once`: one look (the entrypoint, the
# unit tests).
set -u
committed=${LB_COMMITTED:-/var/lib/switcher/committed/live}
maintenance=${LB_MAINTENANCE:-/var/lib/switcher/committed/maintenance}
live=${LB_LIVE_DIR:-/var/lib/switcher/live}
published=${LB_PUBLISHED:-/srv/static/.releases}

follow_once() {
  [ -r "$committed" ] || return 0
  read -r color generation release < "$committed" || return 0
  case "$color" in blue|green) ;; *) return 0 ;; esac
  case "$generation" in ''|*[!0-9]*) return 0 ;; esac
  case "$release" in ''|*[!A-Za-z0-9_.-]*|.*) return 0 ;; esac
  [ "$generation" -gt "$(last_of "$live/followed")" ] || return 0
  if [ ! -f "$published/$release.json" ]; then
    if own_colour_serves "$color"; then
      if [ "$(cat "$live/waiting" 2>/dev/null)" != "$generation" ]; then
        echo "lb: live colour $color ($release) committed, but this node lacks its static files: waiting for \`switcher up\`" >&2
        printf '%s\n' "$generation" > "$live/waiting"
      fi
      return 0
    fi
    # Its own colour has no task left (stopped by promote --stop-old while this node was away):
    # the live release's pages without this node's copy of its static files beat no page at all.
    echo "lb: live colour $color ($release) committed; this node lacks its static files, but its own colour has no task: taking it (\`switcher up\` publishes them)" >&2
  fi
  if [ "$color" = green ]; then touch "$live/green"; else rm -f "$live/green"; fi || return 0
  printf '%s\n' "$generation" > "$live/followed.following" && mv -f "$live/followed.following" "$live/followed"
  echo "lb: live colour $color ($release), as committed ($generation)" >&2
}

# This lb's own colour is the committed one ($1), or still has a task to send requests to:
# Docker's DNS lists its service (BLUE_ADDR/GREEN_ADDR, a cluster's service names). Unknown
# (no names): yes.
own_colour_serves() {
  if [ -f "$live/green" ]; then own=green; address=${GREEN_ADDR:-}; else own=blue; address=${BLUE_ADDR:-}; fi
  [ "$own" = "$1" ] || [ -z "$address" ] || getent ahostsv4 "$address" > /dev/null 2>&1
}

# The generation of the last switch this lb took (0: none, or not a number).
last_of() {
  last=$(cat "$1" 2>/dev/null) || last=0
  case "$last" in ''|*[!0-9]*) last=0 ;; esac
  echo "$last"
}

follow_maintenance() {
  [ -r "$maintenance" ] || return 0
  read -r state generation < "$maintenance" 2>/dev/null || return 0
  case "$generation" in ''|*[!0-9]*) return 0 ;; esac
  [ "$generation" -gt "$(last_of "$live/maintenance.followed")" ] || return 0  # nothing new: no copy
  copy="$live/.maintenance.commit"
  # One version of the file (switcher replaces it whole), read once, for root alone.
  (umask 077 && cat "$maintenance" > "$copy") 2>/dev/null || { rm -f "$copy"; return 0; }
  follow_maintenance_in "$copy"
  rm -f "$copy"
}

follow_maintenance_in() {
  read -r state generation < "$1" || return 0
  case "$generation" in ''|*[!0-9]*) return 0 ;; esac
  [ "$generation" -gt "$(last_of "$live/maintenance.followed")" ] || return 0
  case "$state" in
    on)
      # the page, then the state (nginx's flag), each whole (a rename), readable by nginx
      sed -n 2p "$1" > "$live/maintenance.json.following" && tail -n +3 "$1" > "$live/maintenance.html.following" || return 0
      case "$(head -c 1 "$live/maintenance.json.following")" in '{') ;; *) rm -f "$live"/maintenance.*.following; return 0 ;; esac
      chmod 0644 "$live/maintenance.json.following" "$live/maintenance.html.following" &&
        mv -f "$live/maintenance.html.following" "$live/maintenance.html" &&
        mv -f "$live/maintenance.json.following" "$live/maintenance.json" || return 0
      ;;
    off) rm -f "$live/maintenance.json" || return 0 ;;
    *) return 0 ;;
  esac
  printf '%s\n' "$generation" > "$live/maintenance.followed.following" &&
    mv -f "$live/maintenance.followed.following" "$live/maintenance.followed"
  echo "lb: maintenance $state, as committed ($generation)" >&2
}

if [ "${1:-}" = --once ]; then
  follow_maintenance
  follow_once
  exit 0
fi
while sleep 1; do
  follow_maintenance
  follow_once
done
