# Shared by scripts/quickstart and scripts/test: install uv if missing, sync the locked environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
  UV=(python3 -m uv)
fi
"${UV[@]}" sync --frozen --all-extras --python 3.11 --quiet --compile-bytecode  # .pyc once: every task process starts faster
export PATH="$ROOT/.venv/bin:$PATH"
