# Sourced by the golden scripts: sets $here and $py, making the virtual environment
# ($VENV, else reference/.venv) from requirements.txt on first use.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${VENV:-$here/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
py="$venv/bin/python"
