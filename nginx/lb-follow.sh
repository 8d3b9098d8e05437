#!/bin/sh
# A cluster's lb (LB_FOLLOW=1, started by the entrypoint beside nginx): once a second, the live
# colour switcher last committed (a promote, rollback or up that finished: "COLOUR GENERATION
# RELEASE" in /var/lib/switcher/committed/live, on the shared storage every lb node mounts) is
# set on this lb when its generation is newer than the last switch this lb took (switcher
# writes that generation with each flip), and once this node has that release's static files
# (a node that was away when it was deployed gets them from `switcher up`; until then it keeps
# the colour it had, whose pages and files match). So an lb that missed a switch (its node was
# down or cut off, or it is new) takes it by itself once it is back, while a commit read late
# from the shared storage never undoes a newer flip. A promote in progress (not committed yet)
# and a flag set by hand are left alone. `--once`: one look (the unit tests).
set -u
committed=${LB_COMMITTED:-/var/lib/switcher/committed/live}
live=${LB_LIVE_DIR:-/var/lib/switcher/live}
published=${LB_PUBLISHED:-/srv/static/.releases}

follow_once() {
  [ -r "$committed" ] || return 0
  read -r color generation release < "$committed" || return 0
  case "$color" in blue|green) ;; *) return 0 ;; esac
  case "$generation" in ''|*[!0-9]*) return 0 ;; esac
  case "$release" in ''|*[!A-Za-z0-9_.-]*|.*) return 0 ;; esac
  last=$(cat "$live/followed" 2>/dev/null) || last=0
  case "$last" in ''|*[!0-9]*) last=0 ;; esac
  [ "$generation" -gt "$last" ] || return 0
  if [ ! -f "$published/$release.json" ]; then
    if [ "$(cat "$live/waiting" 2>/dev/null)" != "$generation" ]; then
      echo "lb: live colour $color ($release) committed, but this node lacks its static files: waiting for \`switcher up\`" >&2
      printf '%s\n' "$generation" > "$live/waiting"
    fi
    return 0
  fi
  if [ "$color" = green ]; then touch "$live/green"; else rm -f "$live/green"; fi || return 0
  printf '%s\n' "$generation" > "$live/followed.tmp" && mv -f "$live/followed.tmp" "$live/followed"
  echo "lb: live colour $color ($release), as committed ($generation)" >&2
}

if [ "${1:-}" = --once ]; then
  follow_once
  exit 0
fi
while sleep 1; do
  follow_once
done
