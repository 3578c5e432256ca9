"""Keras 3 layers (Gumbel-softmax relaxations, smoothing, vector quantization, moving averages,
the REINFORCE baseline), schedules and the backbones."""

from keraszoo.layers.annealed import AnnealedSampler
from keraszoo.layers.backbones import (
    BACKBONES,
    build_decoder,
    build_encoder,
    normalize_backbone,
    spatial_grid,
)
from keraszoo.layers.baseline import ScoreFunctionBaseline
from keraszoo.layers.gumbel import GumbelSigmoid, GumbelSoftmax
from keraszoo.layers.moving_average import MovingAverage
from keraszoo.layers.smoothing import Smoothing
from keraszoo.layers.vector_quantizer import VectorQuantizer, VectorQuantizerEMA, usage_perplexity
from keraszoo.schedules import BetaSchedule, ExponentialSchedule, TemperatureSchedule, as_schedule

__all__ = [
    "BACKBONES",
    "AnnealedSampler",
    "BetaSchedule",
    "ExponentialSchedule",
    "GumbelSigmoid",
    "GumbelSoftmax",
    "MovingAverage",
    "ScoreFunctionBaseline",
    "Smoothing",
    "TemperatureSchedule",
    "VectorQuantizer",
    "VectorQuantizerEMA",
    "as_schedule",
    "build_decoder",
    "build_encoder",
    "normalize_backbone",
    "spatial_grid",
    "usage_perplexity",
]
