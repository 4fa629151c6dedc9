# Sourced by the benchmark scripts: `need PROGRAM...` installs the Debian packages that provide
# the programs that are missing (as root, or through sudo), or says which to install.
need() {
  local missing=() p pkg
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 && continue
    case $p in
      ninja) pkg=ninja-build ;;
      perf) pkg=linux-perf ;;
      *) pkg=$p ;;  # hyperfine, make, s3cmd: the package is named after the program
    esac
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bench: installing ${missing[*]}" >&2
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; then
    echo "bench: cannot install ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
    exit 2
  fi
}
