"""Benchmarks of pycorosync (not tests: numbers depend on the machine).

``python -m bench --list`` names them; ``python -m bench NAME [ARGS]`` runs one;
``python -m bench`` runs every benchmark that can run here with its defaults.
"""
