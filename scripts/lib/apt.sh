# shellcheck shell=bash
# apt_install PACKAGE...: install Debian packages (as root, through sudo otherwise), running
# `apt-get update` once when the first attempt fails (a fresh machine's lists are empty).
apt_install() {
  local sudo_=()
  [ "$(id -u)" = 0 ] || sudo_=(sudo)
  if ! "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; then
    "${sudo_[@]}" apt-get update -q
    "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  fi
}
