import sys
from pathlib import Path

# Tests import helpers from this folder (tests/needs.py, tests/peers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
