"""`swarm`, the command line for people and pipelines: it talks to a Swarm server's JSON API over HTTP with a token
from the environment (SWARM_URL, SWARM_TOKEN), and imports nothing of the server (no Django): it runs anywhere the
venv's Python does. Exit codes for CI are in `outcome.py` and README.md ("The swarm command")."""
