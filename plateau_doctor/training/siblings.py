"""The other callbacks of a user's fit, the epoch whose weights they leave the model with, and
how the fit weights its rows.

Keras hands a callback its model, never the list it sits in nor fit's arguments. The fit's
``CallbackList`` calls each callback's hooks from its own methods, so at ``on_train_begin`` the
list is the ``self`` of a calling frame, and ``fit`` itself, which calls the list, a frame or two
above it: the doctor looks for them there once, and reads no frame after.
"""

from __future__ import annotations

import sys
from typing import Any

FRAMES = 8
"""How far up the stack the fit's CallbackList and then ``fit`` are sought: the list calls the hook
itself (one frame), through at most a wrapper or two of Keras' own, and ``fit`` calls the list."""


def read_fit(callback: Any) -> tuple[list[Any], str]:
    """The other callbacks of the fit that is calling ``callback``'s hook ([] when not found: a hook
    called by hand, or a trainer that calls callbacks another way), and what that fit weights its
    training rows by (``ResolvedSetup.row_weights``: ``class_weight``, ``sample_weight``, ``none``;
    ``unknown`` when no frame above the list holds fit's arguments)."""
    frame, siblings = sys._getframe(1), None
    for _ in range(FRAMES):
        if frame is None:
            break
        members = getattr(frame.f_locals.get("self"), "callbacks", None)
        if siblings is None and isinstance(members, list) and any(member is callback for member in members):
            siblings = [member for member in members if member is not callback]
        elif siblings is not None and {"class_weight", "sample_weight"} <= frame.f_locals.keys():
            given = [name for name in ("class_weight", "sample_weight") if frame.f_locals[name] is not None]
            return siblings, given[0] if given else "none"
        frame = frame.f_back
    return siblings or [], "unknown"


def restored_epoch(callbacks: list[Any], first: int = 1) -> int:
    """The epoch whose weights an ``EarlyStopping(restore_best_weights=True)`` among ``callbacks``
    puts back when the fit ends, counted from 1 at the fit's epoch ``first`` (``fit(initial_epoch=k)``
    numbers its epochs, and EarlyStopping its best one, from k + 1); 0 when none does. Keras 3
    restores them at the end of training whether or not it stopped the fit (keras-team/keras#18822),
    once it has seen a monitored value (``best_weights`` set)."""
    import keras

    for member in callbacks:
        if (isinstance(member, keras.callbacks.EarlyStopping) and member.restore_best_weights
                and getattr(member, "best_weights", None) is not None):
            return max(0, int(member.best_epoch) + 2 - first)
    return 0
