"""The remedy branches, one module each, named after its branch of ``schema.REMEDIES``
(``search``, the guided fallback, has none): each merges the treatments of the causes that
point to it (:class:`.base.Remedy`). :mod:`.catalog` finds them; this file imports nothing."""
