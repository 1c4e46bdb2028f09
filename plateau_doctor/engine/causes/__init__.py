"""Every cause the doctor can name, one module each, named after it (``learning_rate_too_high.py``).

A cause module registers its rule, rank, words, treatments, search prior and confirming
signals with :func:`.registry.register`; :mod:`.catalog` finds the modules and reads the
registry; :mod:`.readings` and :mod:`.treating` hold what several causes share, naming none;
:func:`.contract.check_cause` checks one cause as the tests check every one. This file
imports nothing, so that importing a cause module never imports the others.
"""
