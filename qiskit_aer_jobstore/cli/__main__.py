"""``python -m qiskit_aer_jobstore.cli``: the same as the ``aer-jobs`` console script."""

from . import main

main()
