"""The encoder-gradient estimator of a model, chosen once by name.

Each estimator is described by what it does to the latent sample z (the models read these
flags; nothing else compares estimator names):

    name                 score_function  relaxed  straight_through
    reparameterization   no              no       no     z = g(φ, ε) keeps its gradient path
    reinforce            yes             no       no     z is a constant; gradient by the score
                                                         function surrogate (Williams 1992)
    straight_through     no              no       yes    exact sample forward, ∂ of its mean
                                                         backward (Bengio et al. 2013)
    gumbel_softmax       no              yes      no     relaxed sample in training (Jang et al.
                                                         2017; Maddison et al. 2017)
    gumbel_softmax_hard  no              yes      yes    exact sample forward, relaxed gradient
"""

from __future__ import annotations

import dataclasses

from keraszoo._checks import check_one_of


@dataclasses.dataclass(frozen=True)
class Estimator:
    """How the encoder's gradient passes the latent sample (see the module docstring)."""

    name: str
    score_function: bool = False
    relaxed: bool = False
    straight_through: bool = False


_ESTIMATORS = {
    e.name: e
    for e in (
        Estimator("reparameterization"),
        Estimator("reinforce", score_function=True),
        Estimator("straight_through", straight_through=True),
        Estimator("gumbel_softmax", relaxed=True),
        Estimator("gumbel_softmax_hard", relaxed=True, straight_through=True),
    )
}


def get_estimator(name: str, choices=tuple(_ESTIMATORS)) -> Estimator:
    """The estimator `name`, which must be one of `choices` (those a model family supports)."""
    check_one_of("estimator", name, choices)
    return _ESTIMATORS[name]
