"""Settings for every test: SRP's membership transitions are strict.

An SRP core logs and counts a state change outside ``LEGAL_TRANSITIONS``
(``totem.srp.transitions``) so that a daemon keeps running; under test it raises
``IllegalTransition``, so any test that drives the cores checks the diagram too.
"""

from totem.srp.transitions import strict_transitions

strict_transitions(True)
