# Sourced by scripts/test: Debian's chromium for the UI e2e test (tests/e2e/test_ui_e2e.py), from the distro's own
# package repository (Playwright drives it; `playwright install` is never run). Installed only when missing and apt
# is usable (root, or passwordless sudo); otherwise nothing happens and that test skips, saying why.
_install_chromium() {
  local sudo=() log
  command -v chromium >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || return 0
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true >/dev/null 2>&1 || return 0
    sudo=(sudo -n)
  fi
  echo "installing Debian's chromium for the UI e2e test (apt-get)" >&2
  log=$(mktemp)
  _apt_chromium() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1
  }
  # the package index is fetched only if this machine has none that knows chromium, or the install fails (stale)
  if ! { apt-cache show chromium >/dev/null 2>&1 && _apt_chromium; }; then
    "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 || true
    if ! _apt_chromium; then
      tail -n 20 "$log" >&2
      echo "could not install chromium: the UI e2e test will skip" >&2
    fi
  fi
  rm -f "$log"
  unset -f _apt_chromium
}
_install_chromium
unset -f _install_chromium
