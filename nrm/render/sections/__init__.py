"""The paper's sections, one module each, in page order: ``title``, ``summary``, ``methods``
(1), ``variance`` (2), ``hypotheses`` (3), ``optimization`` (4), ``population`` (5), ``ledger``
(6), ``support`` (7), ``limitations`` (8), ``reproducibility`` (9), ``study`` (10, the causal
study), ``controls`` (11) and ``reference`` (against the shipped reference build). Each has a
``section(...)`` that returns its Markdown; ``common``, ``tableio`` and ``prediction`` hold
what several share. :mod:`nrm.render.paper` puts them together."""
