# Sourced by test.sh: Debian packages the tests start servers from (a private PostgreSQL).
# Installs them when missing and this shell may (root, or sudo without a password).
set -euo pipefail
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "The tests need PostgreSQL's server binaries: apt-get install postgresql" >&2; exit 1
  fi
  echo "Installing Debian's postgresql package ..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    postgresql >/dev/null
fi
