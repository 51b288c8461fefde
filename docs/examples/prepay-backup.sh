#!/bin/sh
# prepay-backup: a prepay site's backup, taken while Node-RED runs (docs/INSTALL.md, "Backup and restore").
# Run it as the Node-RED service's user; prepay-backup.timer runs it every night.
#
# Writes a new folder <PREPAY_BACKUP_DIR>/<UTC time>/ holding
#   ledger.db        the SQLite ledger: a consistent copy while postings go on, checked (prepay-ledger-backup), or
#   ledger.dump      the PostgreSQL ledger when PGDATABASE is set: pg_dump, one consistent snapshot
#   user-dir.tar.gz  the user directory taken just after the ledger: flows, encrypted credentials, the installed
#                    packages' list and the nodes' state files in prepay/ (meter baselines, tariff positions,
#                    BACnet instance numbers); not node_modules, not SQLite files
# and removes folders older than PREPAY_BACKUP_KEEP_DAYS days. The ledger goes first: restored together, the
# meter baselines are then a little newer than the ledger, so nothing is ever billed twice.
set -eu

user_dir=${NODE_RED_USER_DIR:-/var/lib/node-red}
backup_dir=${PREPAY_BACKUP_DIR:-/var/backups/prepay}
ledger_file=${PREPAY_LEDGER_FILE:-prepay-ledger.db}
keep_days=${PREPAY_BACKUP_KEEP_DAYS:-30}
tool=${PREPAY_BACKUP_TOOL:-$user_dir/node_modules/.bin/prepay-ledger-backup}

umask 077
dest=$backup_dir/$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$dest"

if [ -n "${PGDATABASE:-}" ]; then
  # Connection from the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE; the password in ~/.pgpass).
  pg_dump --format=custom --file="$dest/ledger.dump"
else
  case $ledger_file in
    /*) ledger=$ledger_file ;;
    *) ledger=$user_dir/$ledger_file ;;
  esac
  # Exit status 2: the copy was written but does not pass the ledger's check; the timer shows a failure.
  "$tool" backup "$ledger" "$dest/ledger.db"
fi

# tar exits 1 when a file changed while it was read (a deploy, a state file rewritten): every state file is
# replaced whole (written beside, then renamed, the previous one kept as .bak), so that is not a failure.
status=0
tar -C "$user_dir" --exclude=./node_modules --exclude=./backups --exclude='*.db' --exclude='*.db-wal' \
  --exclude='*.db-shm' --exclude='*.db-journal' --exclude='*.tmp' -czf "$dest/user-dir.tar.gz" . || status=$?
[ "$status" -le 1 ] || exit "$status"

find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name '????-??-??T??????Z' -mtime +"$keep_days" \
  -exec rm -rf {} +
echo "prepay-backup: $dest"
