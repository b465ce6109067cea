"""The data plane every protocol calls (plane.py), where work runs (offload.py), a rollout's
comparisons (comparisons.py) and the statistics it reports (statistics.py)."""
